import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { ExportFileError } from "../../../shared/errors.js";
import { readRecordFile } from "../../../shared/health/reader.js";
import type { DeviceHealthRecord } from "../../../shared/health/record.js";
import { fileRecord, gzipLines, streamOf } from "./fixtures.js";

const line = (id: string, extra: Record<string, unknown> = {}): string => JSON.stringify(fileRecord({ deviceId: id, top: extra }));

async function read(body: Buffer | Readable, options: Parameters<typeof readRecordFile>[3] = {}) {
  const records: DeviceHealthRecord[] = [];
  const result = await readRecordFile(Buffer.isBuffer(body) ? streamOf(body, 37) : body, "f.json.gz", (r) => records.push(r), options);
  return { records, result };
}

async function failure(body: Buffer | Readable): Promise<ExportFileError> {
  const error = await read(body).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ExportFileError);
  return error as ExportFileError;
}

describe("readRecordFile", () => {
  it("reads every record of a file of several gzip members, in small chunks", async () => {
    const body = Buffer.concat([gzipLines([line("a"), line("b")]), gzipLines([line("c")]), gzipSync(Buffer.from(line("d")))]);
    const { records, result } = await read(body);
    expect(records.map((r) => r.machineId)).toEqual(["a", "b", "c", "d"]);
    expect(result).toMatchObject({ file: "f.json.gz", recordsRead: 4, malformedLines: 0, malformedSample: [] });
    expect(result.bytes).toBe(Buffer.byteLength(`${line("a")}\n${line("b")}\n${line("c")}\n${line("d")}`));
  });

  it("tolerates a BOM, CRLF line ends and blank lines", async () => {
    const body = gzipSync(Buffer.from(`\uFEFF${line("a")}\r\n\r\n   \r\n${line("b")}\r\n`));
    const { records, result } = await read(body);
    expect(records.map((r) => r.machineId)).toEqual(["a", "b"]);
    expect(result.recordsRead).toBe(2);
  });

  it("counts malformed lines (not JSON, no device id, too long) as read, and samples them with file, line and reason", async () => {
    const body = gzipLines([line("a"), "{not json", "", JSON.stringify({ DeviceName: "x" }), "y".repeat(3000), line("b")]);
    const { records, result } = await read(body, { maxLineBytes: 2000 });
    expect(records.map((r) => r.machineId)).toEqual(["a", "b"]);
    expect(result.recordsRead).toBe(5);
    expect(result.malformedLines).toBe(3);
    expect(result.malformedSample).toEqual([
      { file: "f.json.gz", line: 2, head: "{not json", reason: expect.stringMatching(/^not JSON/) },
      { file: "f.json.gz", line: 4, head: '{"DeviceName":"x"}', reason: expect.stringMatching(/no usable device id/) },
      { file: "f.json.gz", line: 5, head: "y".repeat(200), reason: expect.stringMatching(/3000 bytes is longer than the 2000-byte cap/) },
    ]);
  });

  it("keeps at most sampleLines malformed lines, but counts them all", async () => {
    const body = gzipLines(Array.from({ length: 50 }, (_, i) => `bad ${i}`));
    const { result } = await read(body, { sampleLines: 3 });
    expect(result.malformedLines).toBe(50);
    expect(result.malformedSample.map((m) => m.line)).toEqual([1, 2, 3]);
  });

  it("keeps only the first 200 bytes of a malformed line", async () => {
    const { result } = await read(gzipLines([`{${"z".repeat(1000)}`]));
    expect(result.malformedSample[0]?.head).toHaveLength(200);
  });

  it("fails the whole file on corrupt gzip, never a short success", async () => {
    const good = gzipLines(Array.from({ length: 2000 }, (_, i) => line(`d${i}`)));
    const corrupt = Buffer.from(good);
    for (let i = 200; i < 260; i++) corrupt[i] = corrupt[i]! ^ 0x5a;
    const error = await failure(corrupt);
    expect(error.code).toBe("VerifyFailed");
    expect(error.retriable).toBe(false);
    expect(error.file).toBe("f.json.gz");
    expect(error.message).toMatch(/not valid gzip/);
  });

  it("fails a truncated file, a file with trailing garbage, and an empty body", async () => {
    const good = gzipLines(Array.from({ length: 200 }, (_, i) => line(`d${i}`)));
    expect((await failure(good.subarray(0, good.length - 10))).code).toBe("VerifyFailed");
    expect((await failure(Buffer.concat([good, Buffer.from("garbage after the member")]))).code).toBe("VerifyFailed");
    expect((await failure(Buffer.alloc(0))).code).toBe("VerifyFailed");
  });

  it("fails the file when its source stream breaks, as retriable", async () => {
    const body = gzipLines(Array.from({ length: 500 }, (_, i) => line(`d${i}`)));
    const source = new Readable({
      read() {
        this.push(body.subarray(0, 100));
        this.destroy(new Error("socket hang up"));
      },
    });
    const error = await failure(source);
    expect(error.code).toBe("SourceUnavailable");
    expect(error.retriable).toBe(true);
    expect(error.message).toMatch(/socket hang up/);
  });

  it("lets an error thrown by the record handler through unchanged", async () => {
    const bug = new TypeError("handler bug");
    await expect(
      readRecordFile(streamOf(gzipLines([line("a")])), "f", () => {
        throw bug;
      }),
    ).rejects.toBe(bug);
  });
});
