import { afterEach, describe, expect, it } from "vitest";
import { destinationOf, manifestPath } from "../../../shared/runs/layout.js";
import { encodeMessage } from "../../../shared/storage.js";
import type { FileMessage } from "../../../shared/pipeline/deps.js";
import { generateDataset } from "../../../local/simulator/generator.js";
import { allText, dayRows, startHarness, type Harness } from "./harness.js";

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function start(options: Parameters<typeof startHarness>[0] = {}): Promise<Harness> {
  harness = await startHarness(options);
  return harness;
}

async function blobNames(h: Harness): Promise<string[]> {
  const names: string[] = [];
  for await (const blob of h.container.listBlobsFlat()) names.push(blob.name);
  return names.sort();
}

async function etags(h: Harness): Promise<Map<string, string>> {
  const tags = new Map<string, string>();
  for await (const blob of h.container.listBlobsFlat()) tags.set(blob.name, blob.properties.etag ?? "");
  return tags;
}

function expectNoSecrets(h: Harness): void {
  const text = allText(h);
  expect(text).not.toMatch(/sig=(?!\[redacted\])/);
  expect(text).not.toContain(h.tenant.clientSecret);
}

describe("the pipeline on the simulated tenant", () => {
  it("copies every export file byte-identical to its Hive path, succeeds, and summarises once", async () => {
    const h = await start();
    const { start: started, run } = await h.pipeline.runOnce();
    expect(started.action).toBe("started");
    expect(h.dataset.files.length).toBeGreaterThan(3);
    expect(run).toMatchObject({ state: "succeeded", summaries: 1, files: { total: h.dataset.files.length, copied: h.dataset.files.length, failed: 0, pending: 0 } });

    for (const file of h.dataset.files) {
      const copy = await h.container.getBlockBlobClient(destinationOf(h.dataset.generatedTime, file.path)).downloadToBuffer();
      expect(copy.equals(file.body)).toBe(true);
    }
    const manifest = JSON.parse((await h.container.getBlockBlobClient(manifestPath(h.dataset.generatedTime)).downloadToBuffer()).toString());
    expect(manifest).toMatchObject({ runId: started.runId, state: "succeeded", bytes: h.dataset.files.reduce((s, f) => s + f.body.length, 0) });
    expect(manifest.files).toHaveLength(h.dataset.files.length);
    expect(h.pipeline.summaries.stats.handled).toBe(1);
    expect(h.tenant.counters.exportServed).toBe(1);
    expectNoSecrets(h);
  });

  it("does nothing twice on a rerun of the same snapshot", async () => {
    const h = await start();
    const first = await h.pipeline.runOnce();
    const before = await etags(h);
    const second = await h.pipeline.runOnce();
    expect(second.start).toMatchObject({ action: "finished", queued: 0 });
    expect(second.run).toMatchObject({ state: "succeeded", summaries: 1, records: first.run!.records });
    expect(await etags(h)).toEqual(before);
    expect(h.pipeline.files.stats.handled).toBe(h.dataset.files.length);
  });

  it("treats a duplicate delivery of a copied file as done: nothing copied or counted again", async () => {
    const h = await start();
    const started = await h.pipeline.start();
    const original = (await h.pipeline.files.queue.peekMessages({ numberOfMessages: 1 })).peekedMessageItems[0]!.messageText;
    await h.pipeline.drain();
    const before = await etags(h);
    await h.pipeline.files.queue.sendMessage(original); // the queue delivers the same message again
    await h.pipeline.drain();
    expect(h.logger.lines.filter((l) => /copyExportFile skipped ".*" state=copied/.test(l))).toHaveLength(1);
    expect(await etags(h)).toEqual(before);
    expect(await h.pipeline.status(started.runId)).toMatchObject({ state: "succeeded", summaries: 1 });
    expect(h.pipeline.summaries.stats.handled).toBe(1);
  });

  it("finishes a file whose handler crashed after the copy and before the mark, without copying again", async () => {
    let crashed = false;
    const h = await start({
      checkpoint: (step) => {
        if (step === "copied" && !crashed) {
          crashed = true;
          throw new Error("host crashed");
        }
      },
    });
    const { run } = await h.pipeline.runOnce();
    expect(crashed).toBe(true);
    expect(run).toMatchObject({ state: "succeeded", summaries: 1 });
    expect(h.logger.lines.filter((l) => l.includes('copyExportFile present "'))).toHaveLength(1);
    expect(h.pipeline.files.stats.failed).toBe(1);
  });

  it("queues exactly one summary when the last files all finish at the same moment", async () => {
    // Hold every handler at the mark until all have copied, then let them race through the fan-in.
    let files = Number.POSITIVE_INFINITY;
    let waiting = 0;
    let release!: () => void;
    const allMarked = new Promise<void>((resolve) => (release = resolve));
    const h = await start({
      queueSettings: { batchSize: 32 },
      checkpoint: async (step) => {
        if (step !== "marked") return;
        if (++waiting === files) release();
        await allMarked;
      },
    });
    files = h.dataset.files.length;
    expect(files).toBeGreaterThanOrEqual(2);
    const started = await h.pipeline.start();
    await h.pipeline.files.pumpOnce(); // one batch: every file's handler runs concurrently
    expect(waiting).toBe(files);
    const props = await h.pipeline.deps.storage.summariesQueue.getProperties();
    expect(props.approximateMessagesCount).toBe(1);
    expect(h.logger.lines.filter((l) => l.includes("copyExportFile advanced"))).toHaveLength(1);
    await h.pipeline.drain();
    expect(await h.pipeline.status(started.runId)).toMatchObject({ state: "succeeded", summaries: 1 });
    expect(h.pipeline.summaries.stats.handled).toBe(1);
  });

  it("refreshes expired SAS URLs with one more export call, matched by blob path, then succeeds", async () => {
    const h = await start({ faults: { sasExpiresEarly: true } });
    const started = await h.pipeline.start();
    h.tenant.faults.sasExpiresEarly = false;
    await h.pipeline.drain();
    const run = await h.pipeline.status(started.runId);
    expect(run).toMatchObject({ state: "succeeded", summaries: 1 });
    expect(h.tenant.counters.exportServed).toBe(2);
    expect(h.logger.lines.filter((l) => l.includes("copyExportFile refreshed"))).toHaveLength(1);
    expect(h.logger.lines.some((l) => l.includes("copyExportFile stale"))).toBe(true);
    expectNoSecrets(h);
  });

  it("obeys 429 Retry-After on the export call", async () => {
    const h = await start({ faults: { throttle: 2, retryAfterSeconds: 7 } });
    const { run } = await h.pipeline.runOnce();
    expect(run?.state).toBe("succeeded");
    expect(h.tenant.counters.throttled).toBe(2);
    expect(h.sleeps).toEqual([7000, 7000]);
  });

  it("does not call an empty 200 blob or a missing blob a success, and names both", async () => {
    const h = await start({ faults: { emptyBlob: 0, missingBlob: 1 } });
    const { run } = await h.pipeline.runOnce();
    expect(run).toMatchObject({ state: "partial", summaries: 1, files: { failed: 2, copied: h.dataset.files.length - 2 } });
    const errors = run!.errors.map((e) => e.error).join("\n");
    expect(errors).toMatch(/SourceEmpty: source blob is empty/);
    expect(errors).toMatch(/SourceMissing: source blob not found/);
    const manifest = JSON.parse((await h.container.getBlockBlobClient(manifestPath(h.dataset.generatedTime)).downloadToBuffer()).toString());
    expect(manifest.state).toBe("partial");
    expect(manifest.failedFiles).toHaveLength(2);
  });

  it("fails a copy that cannot be read (corrupt gzip) on its row, so the next trigger copies it again", async () => {
    const h = await start({ faults: { truncatedGzip: 1 } });
    const first = await h.pipeline.runOnce();
    expect(first.run).toMatchObject({ state: "partial", files: { failed: 1, copied: h.dataset.files.length - 1 } });
    expect(first.run!.errors).toEqual([{ file: expect.any(String), error: expect.stringMatching(/^Unreadable: Export file ".*" is not valid gzip/) }]);
    const manifest = JSON.parse((await h.container.getBlockBlobClient(manifestPath(h.dataset.generatedTime)).downloadToBuffer()).toString());
    expect(manifest.files).toHaveLength(h.dataset.files.length - 1);
    h.tenant.faults.truncatedGzip = null;
    const second = await h.pipeline.runOnce();
    expect(second.start).toMatchObject({ action: "resumed", queued: 1 });
    expect(second.run).toMatchObject({ state: "succeeded", summaries: 2, passes: 2, records: h.dataset.files.reduce((n, f) => n + f.records, 0) });
    const copy = await h.container.getBlockBlobClient(destinationOf(h.dataset.generatedTime, h.dataset.files[1]!.path)).downloadToBuffer();
    expect(copy.equals(h.dataset.files[1]!.body)).toBe(true);
  });

  it("leaves a day's rows to its newer snapshot when an older one of the same day finishes later", async () => {
    const h = await start({ dataset: { generatedTime: "2026-12-01T08:00:00Z" } });
    const newer = await h.pipeline.runOnce();
    const rowsOf = () => dayRows(h, "2026-12-01");
    const before = await rowsOf();
    expect(new Set(before.map((r) => r.RunId))).toEqual(new Set([newer.start.runId]));
    await h.tenant.setDataset(generateDataset({ seed: 8, devices: 300, recordsPerFile: 100, generatedTime: "2026-12-01T02:00:00Z" }));
    const older = await h.pipeline.runOnce();
    expect(older.run).toMatchObject({ runId: "20261201T0200Z", state: "succeeded", summaries: 1 });
    expect(older.run!.notes).toMatch(/rows were left as they are: the newer snapshot 2026-12-01T08:00:00.000Z already summarised 2026-12-01/);
    expect((await rowsOf()).map((r) => [r.rowKey, r.Devices, r.RunId])).toEqual(before.map((r) => [r.rowKey, r.Devices, r.RunId]));
  });

  it("resumes a half-done run: only the missing files are copied again, with fresh URLs", async () => {
    const h = await start({ faults: { missingBlob: [0, 2] } });
    const first = await h.pipeline.runOnce();
    expect(first.run?.state).toBe("partial");
    const before = await etags(h);
    h.tenant.faults.missingBlob = null;
    const second = await h.pipeline.runOnce();
    expect(second.start).toMatchObject({ action: "resumed", queued: 2 });
    expect(second.run).toMatchObject({ state: "succeeded", files: { copied: h.dataset.files.length, failed: 0 } });
    const after = await etags(h);
    for (const [name, etag] of before) if (!name.endsWith("_manifest.json")) expect(after.get(name)).toBe(etag);
    expect(await blobNames(h)).toHaveLength(h.dataset.files.length + 1);
  });

  it("sends a message that keeps failing to the poison queue and fails its file visibly", async () => {
    const h = await start({
      checkpoint: (step) => {
        if (step === "copied") throw new Error("storage keeps dropping the connection");
      },
    });
    const { run } = await h.pipeline.runOnce();
    expect(run).toMatchObject({ state: "failed", files: { failed: h.dataset.files.length } });
    expect(run!.errors[0]!.error).toMatch(/storage keeps dropping the connection/);
    expect(h.pipeline.files.stats.poisoned).toBe(h.dataset.files.length);
    // The poison queue's function saw each one; the files were failed already by their last delivery.
    expect(h.pipeline.filesPoisoned.stats.handled).toBe(h.dataset.files.length);
    expect(h.logger.lines.filter((l) => l.includes("copyExportFilePoisoned ignored"))).toHaveLength(h.dataset.files.length);
  });

  it("fails a file whose handler died on its last delivery, from the poison queue, so the run ends now", async () => {
    const h = await start();
    const started = await h.pipeline.start();
    const messages = await h.pipeline.files.queue.receiveMessages({ numberOfMessages: 1, visibilityTimeout: 60 });
    const dead = messages.receivedMessageItems[0]!;
    // The runtime moves a message that failed on every delivery; a handler that died recorded nothing.
    await h.pipeline.files.poison.createIfNotExists();
    await h.pipeline.files.poison.sendMessage(dead.messageText);
    await h.pipeline.files.queue.deleteMessage(dead.messageId, dead.popReceipt);
    await h.pipeline.drain();
    const run = await h.pipeline.status(started.runId);
    expect(run).toMatchObject({ state: "partial", summaries: 1, passes: 1, files: { failed: 1, copied: h.dataset.files.length - 1 } });
    expect(run!.errors[0]!.error).toMatch(/^Poisoned: the copy failed on all 5 deliveries; last error: none recorded/);
    // The next trigger copies it again.
    const resumed = await h.pipeline.runOnce();
    expect(resumed.start).toMatchObject({ action: "resumed", queued: 1 });
    expect(resumed.run).toMatchObject({ state: "succeeded", summaries: 2, passes: 2 });
  });

  it("asks again at once for a summary whose message failed on every delivery", async () => {
    let summaryFails = true;
    const h = await start({
      env: { SUMMARY_PARALLELISM: "1" },
      checkpoint: (step) => {
        if (step === "summarised" && summaryFails) throw new Error("summary host keeps dying");
      },
    });
    const { start: started, run } = await h.pipeline.runOnce();
    expect(run).toMatchObject({ state: "summarising", summaries: 0 });
    expect(h.pipeline.summaries.stats.poisoned).toBe(1);
    expect(run!.notes).toMatch(/the summary failed on all 5 deliveries/);
    summaryFails = false;
    await h.pipeline.status(started.runId); // looking at the run asks for its summary again
    await h.pipeline.drain();
    expect(await h.pipeline.status(started.runId)).toMatchObject({ state: "succeeded", summaries: 1 });
  });

  it("rejects a message whose URL is outside the allowed hosts before any copy", async () => {
    const h = await start();
    const started = await h.pipeline.start();
    const file = (await h.pipeline.deps.runs.listFiles(started.runId))[0]!;
    await h.pipeline.files.queue.clearMessages();
    const evil: FileMessage = { runId: started.runId, fileKey: file.FileKey, url: "https://evil.example/x.blob.core.windows.net/c/part.json.gz?sig=abc", generation: 99 };
    await h.pipeline.deps.runs.updateRun(started.runId, (await h.pipeline.deps.runs.getRun(started.runId))!.etag, { UrlGeneration: 99 });
    await h.pipeline.files.queue.sendMessage(encodeMessage(evil));
    await h.pipeline.files.pumpOnce();
    const row = await h.pipeline.deps.runs.getFile(started.runId, file.FileKey);
    expect(row?.row).toMatchObject({ State: "failed" });
    expect(row?.row.LastError).toMatch(/UrlRejected/);
    expect(row?.row.LastError).not.toContain("sig=abc");
    expect(await h.container.getBlockBlobClient(file.Destination).exists()).toBe(false);
  });

  it("copies files over the size threshold in Put Block From URL ranges, end to end, byte-identical", async () => {
    const h = await start({ env: { COPY_BLOCK_THRESHOLD_BYTES: "1000", COPY_BLOCK_SIZE_BYTES: "4096" } });
    const { run } = await h.pipeline.runOnce();
    expect(run).toMatchObject({ state: "succeeded", summaries: 1 });
    expect(h.logger.lines.filter((l) => /copyExportFile copied .* method=block-from-url/.test(l))).toHaveLength(h.dataset.files.length);
    for (const file of h.dataset.files) {
      const copy = h.container.getBlockBlobClient(destinationOf(h.dataset.generatedTime, file.path));
      expect((await copy.downloadToBuffer()).equals(file.body)).toBe(true);
      expect((await copy.getBlockList("committed")).committedBlocks?.length).toBe(Math.ceil(file.body.length / 4096));
    }
  });

  it.each(["run-recorded", "file-queued", "copied", "marked", "run-advanced", "summarised", "manifest-written"])(
    "finishes with one summary and nothing copied twice after a crash at %s, by the queue's retries or the next trigger",
    async (step) => {
      let crashed = false;
      let clock = Date.parse("2026-12-01T03:00:00Z");
      const h = await start({
        env: { SUMMARY_PARALLELISM: "1" },
        now: () => new Date(clock),
        checkpoint: (at) => {
          if (at === step && !crashed) {
            crashed = true;
            throw new Error(`host died at ${step}`);
          }
        },
      });
      await h.pipeline.start().catch(() => undefined);
      await h.pipeline.drain();
      expect(crashed).toBe(true);
      // The next trigger (a summary lost between the fan-in and its message is asked for again).
      clock += 60 * 60_000;
      const { run } = await h.pipeline.runOnce();
      expect(run).toMatchObject({ state: "succeeded", summaries: 1, passes: 1, files: { copied: h.dataset.files.length } });
      expect(h.logger.lines.filter((l) => l.includes("buildSummary succeeded"))).toHaveLength(1);
      const copies = h.logger.lines.flatMap((l) => /copyExportFile copied "([^"]+)"/.exec(l)?.[1] ?? []);
      expect(copies.length).toBeGreaterThanOrEqual(h.dataset.files.length - 1);
      expect(new Set(copies).size).toBe(copies.length);
      for (const file of h.dataset.files) {
        expect((await h.container.getBlockBlobClient(destinationOf(h.dataset.generatedTime, file.path)).downloadToBuffer()).equals(file.body)).toBe(true);
      }
    },
  );

  it("drops a message of an older URL generation without copying", async () => {
    const h = await start();
    const started = await h.pipeline.start();
    const file = (await h.pipeline.deps.runs.listFiles(started.runId))[0]!;
    const [message] = (await h.pipeline.files.queue.receiveMessages({ numberOfMessages: 1 })).receivedMessageItems;
    await h.pipeline.files.queue.clearMessages();
    // A refresh has queued the files again under generation 2: this message's URL may have expired.
    await h.pipeline.deps.runs.updateRun(started.runId, "*", { UrlGeneration: 2 });
    await h.pipeline.files.queue.sendMessage(message!.messageText);
    await h.pipeline.files.pumpOnce();
    expect(h.logger.lines.filter((l) => /copyExportFile stale ".*" generation=1 current=2/.test(l))).toHaveLength(1);
    expect((await h.pipeline.deps.runs.getFile(started.runId, file.FileKey))?.row).toMatchObject({ State: "pending", Attempts: 0 });
    expect(await h.container.getBlockBlobClient(file.Destination).exists()).toBe(false);
  });

  it("closes an older snapshot's run whose URLs expired when a newer snapshot starts, failing its missing files as Abandoned", async () => {
    let clock = Date.parse("2026-12-01T03:00:00Z");
    const h = await start({ now: () => new Date(clock) });
    const old = await h.pipeline.start();
    await h.pipeline.files.pumpOnce(); // some files copied, then the host went away for good
    await h.pipeline.files.queue.clearMessages();
    const copied = (await h.pipeline.deps.runs.listFiles(old.runId)).filter((f) => f.State === "copied").length;
    expect(copied).toBeGreaterThan(0);
    expect(copied).toBeLessThan(h.dataset.files.length);
    clock += 7 * 60 * 60_000; // past EXPORT_SAS_VALID_HOURS
    await h.tenant.setDataset(generateDataset({ seed: 8, devices: 200, recordsPerFile: 100, generatedTime: "2026-12-01T09:00:00Z" }));
    const { start: next, run } = await h.pipeline.runOnce();
    expect(run).toMatchObject({ runId: "20261201T0900Z", state: "succeeded" });
    const closed = await h.pipeline.status(old.runId);
    expect(closed).toMatchObject({ state: "partial", summaries: 1, files: { copied, failed: h.dataset.files.length - copied } });
    expect(closed!.errors.every((e) => e.error.startsWith(`Abandoned: not copied before its URLs expired, and the export now serves snapshot ${next.runId}`))).toBe(true);
  });

  it("asks again for the summary of another snapshot's run left summarising, when the next trigger comes", async () => {
    let clock = Date.parse("2026-12-01T03:00:00Z");
    let lost = true;
    const h = await start({
      now: () => new Date(clock),
      checkpoint: (step) => {
        if (step === "run-advanced" && lost) {
          lost = false;
          throw new Error("host died between the fan-in and its message");
        }
      },
    });
    const old = await h.pipeline.runOnce();
    expect(old.run).toMatchObject({ state: "summarising", summaries: 0 });
    clock += 24 * 60 * 60_000;
    await h.tenant.setDataset(generateDataset({ seed: 8, devices: 200, recordsPerFile: 100, generatedTime: "2026-12-02T02:00:00Z" }));
    await h.pipeline.runOnce();
    expect(await h.pipeline.status(old.start.runId)).toMatchObject({ state: "succeeded", summaries: 1 });
  });
});
