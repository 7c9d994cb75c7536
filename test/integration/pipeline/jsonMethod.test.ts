import { afterEach, describe, expect, it } from "vitest";
import { PAGING_STALE_MS } from "../../../shared/pipeline/jsonRun.js";
import { manifestPath } from "../../../shared/runs/layout.js";
import { dayRows, startHarness, type Harness } from "./harness.js";

const harnesses: Harness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

async function start(options: Parameters<typeof startHarness>[0]): Promise<Harness> {
  const h = await startHarness(options);
  harnesses.push(h);
  return h;
}

describe("the JSON method (deviceavinfo pages)", () => {
  it("gives the same DeviceHealthDaily rows as the files method over the same devices", async () => {
    // One after the other: the function handlers take the services of the process's latest host.
    const seed = 11;
    const files = await start({ seed, devices: 650, recordsPerFile: 150 });
    const a = await files.pipeline.runOnce();
    const generatedAt = new Date(files.dataset.generatedTime);
    const json = await start({ seed, devices: 650, env: { EXPORT_METHOD: "json", EXPORT_JSON_PAGE_SIZE: "100" }, now: () => generatedAt });
    const b = await json.pipeline.runOnce();
    expect(a.run).toMatchObject({ state: "succeeded", method: "files" });
    expect(b.run).toMatchObject({ state: "succeeded", method: "json", runId: a.start.runId, devices: 650, duplicates: 0, records: 650 });
    expect(a.run!.duplicates).toBeGreaterThan(0); // the files carry devices twice; the JSON method does not

    const day = a.run!.snapshotDate;
    const [rowsA, rowsB] = [await dayRows(files, day), await dayRows(json, day)];
    expect(rowsA.length).toBeGreaterThan(50);
    expect(rowsB).toEqual(rowsA);
  });

  it("follows nextLink to the end, writing each page as a part file, nothing lost or repeated", async () => {
    const h = await start({ devices: 730, env: { EXPORT_METHOD: "json", EXPORT_JSON_PAGE_SIZE: "100", EXPORT_JSON_FILTER: "" } });
    const { start: started, run } = await h.pipeline.runOnce();
    expect(started).toMatchObject({ action: "started", files: 8 });
    expect(run).toMatchObject({ state: "succeeded", files: { total: 8, copied: 8 }, records: 730, devices: 730, duplicates: 0 });
    const names: string[] = [];
    for await (const blob of h.container.listBlobsFlat({ prefix: `${run!.prefix}/json/` })) names.push(blob.name.split("/").pop()!);
    expect(names).toEqual(Array.from({ length: 8 }, (_, i) => `part-${String(i).padStart(5, "0")}.json.gz`));
    expect(h.tenant.counters.deviceAvInfoServed).toBe(8);
    // Eight calls fit in the minute's budget of 30: no waiting, no 429.
    expect(h.sleeps).toEqual([]);
    expect(h.tenant.counters.throttled).toBe(0);
  });

  it("passes the $filter through and records it in the manifest", async () => {
    const h = await start({ devices: 300, env: { EXPORT_METHOD: "json", EXPORT_JSON_FILTER: "osPlatform eq 'Windows11'" } });
    const { run } = await h.pipeline.runOnce();
    const expected = h.dataset.devices.filter((d) => d.osPlatform === "Windows11").length;
    expect(expected).toBeGreaterThan(0);
    expect(run).toMatchObject({ state: "succeeded", devices: expected, filter: "osPlatform eq 'Windows11'" });
    const manifest = JSON.parse((await h.container.getBlockBlobClient(manifestPath(run!.generatedTime)).downloadToBuffer()).toString());
    expect(manifest).toMatchObject({ method: "json", filter: "osPlatform eq 'Windows11'", devices: expected });
  });

  it("obeys a 429 in the middle of paging and loses nothing", async () => {
    let pages = 0;
    const h = await start({
      devices: 400,
      env: { EXPORT_METHOD: "json", EXPORT_JSON_PAGE_SIZE: "100" },
      checkpoint: (step) => {
        if (step === "page-written" && ++pages === 2) Object.assign(h.tenant.faults, { throttle: 2, retryAfterSeconds: 9 });
      },
    });
    const { run } = await h.pipeline.runOnce();
    expect(h.tenant.counters.throttled).toBe(2);
    expect(h.sleeps.filter((ms) => ms === 9000)).toHaveLength(2);
    expect(run).toMatchObject({ state: "succeeded", devices: 400, files: { total: 4 } });
  });

  it("in auto mode falls back to JSON when the files export is refused (403), and says why", async () => {
    const h = await start({ devices: 200, env: { EXPORT_METHOD: "auto" } });
    h.tenant.roles = ["Machine.Read.All"];
    const { start: started, run } = await h.pipeline.runOnce();
    expect(h.tenant.counters.exportCalls).toBe(1);
    expect(started.action).toBe("started");
    expect(run).toMatchObject({ state: "succeeded", method: "json", devices: 200 });
    expect(run!.notes).toMatch(/files export was refused \(403.*Vulnerability\.Read\.All.*JSON method/);
    expect(h.logger.lines.filter((l) => l.includes("startExport fallback"))).toHaveLength(1);
  });

  it("pages once when two triggers start the same minute's run at the same moment", async () => {
    const h = await start({ devices: 300, env: { EXPORT_METHOD: "json", EXPORT_JSON_PAGE_SIZE: "50" }, now: () => new Date("2026-12-02T08:00:00Z") });
    const results = await Promise.all([h.pipeline.start(), h.pipeline.start()]);
    expect(results.map((r) => r.action).sort()).toEqual(["running", "started"]);
    await h.pipeline.drain();
    const runs = await h.pipeline.deps.runs.listRuns();
    expect(runs).toHaveLength(1);
    expect(await h.pipeline.status(runs[0]!.RunId)).toMatchObject({ state: "succeeded", summaries: 1, devices: 300, files: { total: 6 } });
    expect(h.tenant.counters.deviceAvInfoServed).toBe(6);
  });

  it("does not fall back in files mode: the 403 names the missing permission", async () => {
    const h = await start({ devices: 50 });
    h.tenant.roles = ["Machine.Read.All"];
    await expect(h.pipeline.start()).rejects.toThrow(/Vulnerability\.Read\.All/);
    // No run is made, but GET /api/runs says what the trigger met.
    expect(await h.pipeline.list()).toMatchObject({
      runs: [],
      lastTrigger: { trigger: "http", outcome: "failed", runId: null, error: expect.stringMatching(/403 .*lacks the Vulnerability\.Read\.All permission/) },
    });
    h.tenant.roles = ["Vulnerability.Read.All"];
    const { start: started } = await h.pipeline.runOnce();
    expect((await h.pipeline.list()).lastTrigger).toMatchObject({ outcome: "started", runId: started.runId, error: null });
  });

  it("restarts cleanly after a crash mid-paging: the interrupted run is closed, the next one is whole", async () => {
    let clock = Date.parse("2026-12-02T08:00:00Z");
    let crash = true;
    let pages = 0;
    const h = await start({
      devices: 500,
      env: { EXPORT_METHOD: "json", EXPORT_JSON_PAGE_SIZE: "100" },
      now: () => new Date(clock),
      checkpoint: (step) => {
        if (step === "page-written" && crash && ++pages === 3) throw new Error("host restarted");
      },
    });
    await expect(h.pipeline.start()).rejects.toThrow(/host restarted/);
    crash = false;
    clock += 5 * 60_000;
    const { start: second, run } = await h.pipeline.runOnce();
    expect(run).toMatchObject({ state: "succeeded", devices: 500, files: { total: 5 } });
    const runs = await h.pipeline.deps.runs.listRuns();
    expect(runs).toHaveLength(2);
    const first = runs.find((r) => r.RunId !== second.runId)!;
    expect(first.State).toBe("failed");
    expect(first.Errors).toMatch(/paging stopped after 2 pages: host restarted/);
  });

  it("leaves a run that is paging alone, and closes one its host died in (no page for 15 minutes) when the next trigger restarts cleanly", async () => {
    let clock = Date.parse("2026-12-02T08:00:00Z");
    let pages = 0;
    let dead = true;
    const h = await start({
      devices: 500,
      env: { EXPORT_METHOD: "json", EXPORT_JSON_PAGE_SIZE: "100" },
      now: () => new Date(clock),
      // A host that dies stops where it is: the invocation never returns, nothing after it runs.
      checkpoint: (step) => (step === "page-written" && dead && ++pages === 3 ? new Promise<void>(() => {}) : undefined),
    });
    void h.pipeline.start();
    const deadline = Date.now() + 10_000;
    while (pages < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    const [interrupted] = await h.pipeline.deps.runs.listRuns();
    expect(interrupted?.State).toBe("paging");
    dead = false;
    // Five minutes on, the run may still be paging: a second trigger leaves it alone.
    clock += 5 * 60_000;
    expect(await h.pipeline.start()).toMatchObject({ runId: interrupted!.RunId, action: "running", state: "paging" });
    expect((await h.pipeline.deps.runs.getRun(interrupted!.RunId))?.row.State).toBe("paging");
    // With no page for longer than a page can take, its host is gone: the next trigger starts over.
    clock += PAGING_STALE_MS;
    const { start: second, run } = await h.pipeline.runOnce();
    expect(run).toMatchObject({ state: "succeeded", devices: 500, files: { total: 5 } });
    const first = (await h.pipeline.deps.runs.listRuns()).find((r) => r.RunId !== second.runId)!;
    expect(first.RunId).toBe(interrupted!.RunId);
    expect(first.State).toBe("failed");
    expect(first.Errors).toMatch(new RegExp(`interrupted after \\d+ pages; restarted cleanly as run ${second.runId}`));
  });

  it("fails a run that finds no devices, and leaves the day's rows as they were", async () => {
    let clock = Date.parse("2026-12-02T08:00:00Z");
    const now = () => new Date(clock);
    const h = await start({ devices: 200, env: { EXPORT_METHOD: "json" }, now });
    expect((await h.pipeline.runOnce()).run).toMatchObject({ state: "succeeded", devices: 200 });
    const rows = async () => (await dayRows(h)).map((r) => [r.rowKey, r.Devices, r.RunId]);
    const before = await rows();
    expect(before.length).toBeGreaterThan(10);
    // An hour on, the same storage, and a filter that matches nothing.
    clock += 60 * 60_000;
    const same = { RUNS_TABLE: h.env.RUNS_TABLE!, SUMMARY_TABLE: h.env.SUMMARY_TABLE!, DATA_CONTAINER: h.env.DATA_CONTAINER! };
    const empty = await start({ devices: 200, now, env: { ...same, EXPORT_METHOD: "json", EXPORT_JSON_FILTER: "osPlatform eq 'NoSuchPlatform'" } });
    const { run } = await empty.pipeline.runOnce();
    expect(run).toMatchObject({ state: "failed", summaries: 0 });
    expect(run!.errors[0]!.error).toMatch(/deviceavinfo returned no devices for \$filter "osPlatform eq 'NoSuchPlatform'" \(EXPORT_JSON_FILTER\); the day's rows are left as they are/);
    expect(await rows()).toEqual(before);
  });
});
