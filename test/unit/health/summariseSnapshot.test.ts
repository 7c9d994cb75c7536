import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { MemoryLogger } from "../../../shared/log.js";
import { summariseSnapshot, type SnapshotFile } from "../../../shared/health/summariseSnapshot.js";
import { fileRecord, gzipLines, streamOf, variedFileRecord } from "./fixtures.js";

const G = "2026-12-01T02:00:00Z";
const rec = (id: string, top: Record<string, unknown> = {}, info: Record<string, unknown> = {}) => JSON.stringify(fileRecord({ deviceId: id, top, info }));

function file(name: string, body: Buffer): SnapshotFile {
  return { name, open: async () => streamOf(body, 1000) };
}

const options = (files: SnapshotFile[] | AsyncIterable<SnapshotFile>, parallelism = 2) => ({
  files,
  generatedTime: G,
  runId: "run-7",
  parallelism,
  quarantineSampleLines: 2,
  logger: new MemoryLogger(),
});

describe("summariseSnapshot", () => {
  it("counts a device found in two groups' files once, keeping its latest record", async () => {
    const files = [
      file("g412/part-0.json.gz", gzipLines([rec("a", { RbacGroupId: 412, Timestamp: "2026-12-01T01:00:00Z" }, { AvMode: "1" }), rec("b")])),
      file("g413/part-0.json.gz", gzipLines([rec("a", { RbacGroupId: 413, Timestamp: "2026-12-01T02:00:00Z" }, { AvMode: "2" }), rec("c")])),
    ];
    const { rows, stats } = await summariseSnapshot(options(files));
    expect(stats).toMatchObject({ filesRead: 2, recordsRead: 4, devices: 3, duplicates: 1, malformedLines: 0, failedFiles: [] });
    const all = rows.find((r) => r.dimension === "all")!;
    expect(all.measures.Devices).toBe(3);
    expect(all.measures.ModeDisabled).toBe(1);
    expect(all.measures.ModePassive).toBe(0);
    expect(rows.filter((r) => r.dimension === "rbacGroup").map((r) => [r.value, r.measures.Devices])).toEqual([
      ["Servers-EU (412)", 2],
      ["Servers-EU (413)", 1],
    ]);
    expect(rows.every((r) => r.runId === "run-7" && !r.partial && r.snapshotTime === "2026-12-01T02:00:00.000Z")).toBe(true);
  });

  it("keeps recordsRead = devices + duplicates + malformed, and samples malformed lines up to the limit", async () => {
    const files = [
      file("one", gzipLines([rec("a"), "not json", rec("a"), "", "{\"DeviceId\":\"\"}"])),
      file("two", gzipLines(["{", rec("b")])),
    ];
    const { stats } = await summariseSnapshot(options(files, 1));
    expect(stats).toMatchObject({ filesRead: 2, recordsRead: 6, devices: 2, duplicates: 1, malformedLines: 3 });
    expect(stats.malformedSample).toHaveLength(2);
    expect(stats.malformedSample[0]).toMatchObject({ file: "one", line: 2 });
    expect(stats.perFile).toEqual([
      { name: "one", recordsRead: 4, malformedLines: 2, devices: 1, bytes: expect.any(Number) },
      { name: "two", recordsRead: 2, malformedLines: 1, devices: 1, bytes: expect.any(Number) },
    ]);
  });

  it("lists a file that cannot be opened or read, counts nothing of it, and marks the rows partial", async () => {
    const good = gzipLines([rec("a"), rec("b")]);
    const corrupt = Buffer.from(gzipLines(Array.from({ length: 300 }, (_, i) => rec(`x${i}`))));
    corrupt.fill(0x41, 100, 140);
    const files: SnapshotFile[] = [
      file("good", good),
      file("corrupt", corrupt),
      { name: "gone", open: () => Promise.reject(Object.assign(new Error("BlobNotFound"), { statusCode: 404 })) },
    ];
    const { rows, stats } = await summariseSnapshot(options(files));
    expect(stats).toMatchObject({ filesRead: 1, recordsRead: 2, devices: 2, duplicates: 0, malformedLines: 0 });
    expect(stats.failedFiles.map((f) => f.name).sort()).toEqual(["corrupt", "gone"]);
    expect(stats.failedFiles.find((f) => f.name === "gone")?.reason).toMatch(/could not be opened: BlobNotFound/);
    expect(stats.failedFiles.find((f) => f.name === "corrupt")?.reason).toMatch(/not valid gzip/);
    expect(rows.every((r) => r.partial)).toBe(true);
    expect(rows.find((r) => r.dimension === "all")?.measures.Devices).toBe(2);
  });

  it("fails the whole summary, to be retried, when a file cannot be reached now rather than is broken", async () => {
    const good = file("good", gzipLines([rec("a")]));
    const refused = { name: "refused", open: () => Promise.reject(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" })) };
    await expect(summariseSnapshot(options([good, refused], 1))).rejects.toThrow('Export file "refused" could not be read now (connect ECONNREFUSED); the summary is retried');
    const body = gzipLines(Array.from({ length: 2000 }, (_, i) => rec(`r${i}`)));
    const cut = { name: "cut", open: async () => {
      const stream = new PassThrough();
      stream.write(body.subarray(0, 5000));
      setImmediate(() => stream.destroy(new Error("socket hang up")));
      return stream;
    } };
    for (const parallelism of [1, 2]) {
      await expect(summariseSnapshot(options([good, cut], parallelism))).rejects.toThrow(/Export file "cut" could not be read now \(.*socket hang up.*\); the summary is retried/);
    }
  });

  it("marks the rows partial when the caller says files of the snapshot are missing", async () => {
    const { rows } = await summariseSnapshot({ ...options([file("a", gzipLines([rec("a")]))]), partial: true });
    expect(rows.every((r) => r.partial)).toBe(true);
  });

  it("gives the same rows and counts whatever the parallelism, from an array or an async iterable", async () => {
    const bodies = Array.from({ length: 6 }, (_, f) => gzipLines(Array.from({ length: 300 }, (_, i) => JSON.stringify(variedFileRecord((f * 200 + i) % 1000)))));
    const files = () => bodies.map((b, i) => file(`f${i}`, b));
    async function* lazily(): AsyncIterable<SnapshotFile> {
      for (const f of files()) yield f;
    }
    const one = await summariseSnapshot(options(files(), 1));
    const four = await summariseSnapshot(options(files(), 4));
    const iterated = await summariseSnapshot(options(lazily(), 3));
    expect(one.stats.devices).toBe(1000);
    expect(one.stats.duplicates).toBe(800);
    for (const other of [four, iterated]) {
      expect(other.rows).toEqual(one.rows);
      expect({ ...other.stats, perFile: [] }).toEqual({ ...one.stats, perFile: [] });
    }
  });

  it("rejects, rather than lists a file as failed, when the failure is not the file's", async () => {
    const logger = new MemoryLogger();
    logger.info = () => {
      throw new Error("logger down");
    };
    await expect(summariseSnapshot({ ...options([file("a", gzipLines([rec("a")]))]), logger })).rejects.toThrow("logger down");
  });

  it("logs one line per file and one for the snapshot", async () => {
    const logger = new MemoryLogger();
    await summariseSnapshot({ ...options([file("g/part-0", gzipLines([rec("a")]))]), logger });
    expect(logger.lines).toEqual([
      expect.stringMatching(/^info summariseSnapshot read "g\/part-0" runId=run-7 records=1 malformed=0 devices=1 bytes=\d+ elapsedMs=\d+$/),
      expect.stringMatching(/^info summariseSnapshot summarised "run-7" files=1 failedFiles=0 records=1 devices=1 duplicates=0 malformed=0 rows=\d+ elapsedMs=\d+$/),
    ]);
  });
});
