import { afterEach, describe, expect, it } from "vitest";
import { destinationOf, manifestPath } from "../../../shared/runs/layout.js";
import { encodeMessage } from "../../../shared/storage.js";
import type { FileMessage } from "../../../shared/pipeline/deps.js";
import { allText, startHarness, type Harness } from "./harness.js";

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
    const poisoned = await h.pipeline.files.poison.peekMessages({ numberOfMessages: 32 });
    expect(poisoned.peekedMessageItems).toHaveLength(h.dataset.files.length);
    expect(h.pipeline.files.stats.poisoned).toBe(h.dataset.files.length);
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
});
