/*
 * Property-based fuzz of the record reader (issue 7, "bad input beyond faults"): whatever the lines of
 * a file hold, readRecordFile never throws (only an ExportFileError for a broken gzip stream) and
 * never loses the count; the fast path (a DeviceSet) and the full parse (a callback) agree line for
 * line; an oversized line is dropped without being buffered; summariseSnapshot counts the same.
 *
 * fast-check prints the seed and path of a failure: pass them as `{ seed, path }` in that
 * fc.assert's parameters to replay it.
 */
import { Readable } from "node:stream";
import v8 from "node:v8";
import { runInNewContext } from "node:vm";
import { createGzip, gunzipSync, gzipSync } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ExportFileError } from "../../../shared/errors.js";
import { DeviceSet } from "../../../shared/health/devices.js";
import { readRecordFile, type FileReadResult, type ReadOptions } from "../../../shared/health/reader.js";
import type { DeviceHealthRecord } from "../../../shared/health/record.js";
import { summariseSnapshot, type SnapshotFile } from "../../../shared/health/summariseSnapshot.js";
import { MemoryLogger } from "../../../shared/log.js";
import { generateDataset, toJsonRecord } from "../../../local/simulator/generator.js";
import { resolved, variedFileRecord } from "./fixtures.js";

const DEFAULT_MAX = 1024 * 1024;
const ALL = 1_000_000;
const LF = 0x0a;
const CR = 0x0d;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

// ---- Inputs ----------------------------------------------------------------------------------

/** A line and what it must be read as: a record (true), malformed (false), or either (undefined). */
interface Piece {
  bytes: Buffer;
  record?: boolean;
}

const dataset = generateDataset({ seed: 23, devices: 60, recordsPerFile: 25 });
/** Records as the simulator writes them (every quirk), without their line ends, BOM and blank lines. */
const simulatorLines: Buffer[] = dataset.files.flatMap((f) =>
  splitLines(gunzipSync(f.body))
    .map((l) => stripLine(l))
    .filter((l) => !isBlank(l)),
);
const goodLines = [...simulatorLines, ...Array.from({ length: 20 }, (_, i) => Buffer.from(JSON.stringify(variedFileRecord(i))))];
// The pieces below cut records short and extend them before their closing brace.
if (!goodLines.every((l) => l[l.length - 1] === 0x7d && typeof JSON.parse(l.toString()) === "object")) throw new Error("a simulator line is not one JSON object");
/** The JSON method's records (camelCase): records, which the fast path declines and leaves to the full parse. */
const jsonLines = dataset.devices.map((d) => Buffer.from(JSON.stringify(toJsonRecord(d, { quirks: true }))));

const good = fc.constantFrom(...goodLines).map((bytes): Piece => ({ bytes, record: true }));
const jsonMethod = fc.constantFrom(...jsonLines).map((bytes): Piece => ({ bytes, record: true }));
const truncated = fc.tuple(fc.constantFrom(...goodLines), fc.nat()).map(([line, n]): Piece => ({ bytes: line.subarray(0, 1 + (n % (line.length - 1))), record: false }));
/** Two or three records on one line, joined by a lone CR (a CR-only line end). */
const crJoined = fc.array(fc.constantFrom(...goodLines), { minLength: 2, maxLength: 3 }).map((lines): Piece => ({ bytes: join(lines, "\r"), record: false }));
const blank = fc.constantFrom("", " ", "\t", "\r", " \t \r", "\uFEFF", "\uFEFF  ").map((text): Piece => ({ bytes: Buffer.from(text) }));
const randomBytes = fc.uint8Array({ maxLength: 300 }).map((a): Piece => ({ bytes: Buffer.from(a) }));
const randomText = fc.string({ unit: "binary", maxLength: 200 }).map((s): Piece => ({ bytes: Buffer.from(s) }));
const randomJson = fc.oneof(fc.json({ maxDepth: 4 }), fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify({ DeviceId: v, DeviceGatheredInfo: v })))
  .map((text): Piece => ({ bytes: Buffer.from(text) }));
/** Deep nesting: unclosed, closed, inside an extra column of a record, and inside DeviceGatheredInfo. */
const deep = fc.tuple(fc.integer({ min: 15, max: 20_000 }), fc.constantFrom("open", "closed", "column", "gathered")).map(([n, form]): Piece => {
  const nest = "[".repeat(n) + "]".repeat(n);
  const id = '{"DeviceId":"5f9e3c2a1b0d4e6f8a7b9c0d1e2f3a4b5c6d7e8f"';
  switch (form) {
    case "open":
      return { bytes: Buffer.from("[".repeat(n)), record: false };
    case "closed":
      return { bytes: Buffer.from(nest), record: false };
    case "column":
      return { bytes: Buffer.from(`${id},"Extra":${nest}}`), record: true };
    default:
      return { bytes: Buffer.from(`${id},"DeviceGatheredInfo":${JSON.stringify(`{"AvMode":"1","Extra":${nest}}`)}}`), record: true };
  }
});
/** Odd encodings put into a good line: UTF-16 BOMs, invalid UTF-8, lone surrogates (raw and escaped), NUL and control characters. */
const ODD: Buffer[] = [
  [0xff, 0xfe],
  [0xfe, 0xff],
  [0xef, 0xbb, 0xbf],
  [0xc3, 0x28],
  [0xff],
  [0x80],
  [0xe2, 0x82],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0x00],
  [0x01],
  [0x1f],
  [0x7f],
  [CR],
].map((b) => Buffer.from(b)).concat(["\\uD800", "\\uDFFF", "\\u0000", "\\", '"', "é", "\u2028"].map((s) => Buffer.from(s)));
const oddInserted = fc.tuple(fc.constantFrom(...goodLines), fc.nat(), fc.constantFrom(...ODD), fc.boolean()).map(([line, at, odd, replace]): Piece => {
  const i = at % line.length;
  return { bytes: Buffer.concat([line.subarray(0, i), odd, line.subarray(replace ? i + 1 : i)]) };
});
/** Lone surrogates and invalid bytes as the values of fields the summary reads, the device id among them. */
const oddValue = fc
  .tuple(
    fc.constantFrom(...goodLines.filter((l) => l.includes('"DeviceName":"') && l.includes('"OsPlatform":"'))),
    fc.constantFrom("DeviceId", "DeviceName", "OsPlatform", "RbacGroupName"),
    fc.constantFrom("\\uD800", "x\\uDBFFy", "\\uDC00\\uD800", "\\u0000", "\\u001f", "\\uFEFF"),
  )
  .map(([line, key, value]): Piece => ({ bytes: Buffer.from(line.toString("latin1").replace(new RegExp(`"${key}":"[^"]*"`), `"${key}":"${value}"`), "latin1") }));
/** Device ids the fast path packs as words, keeps by name, or declines. */
const oddId = fc
  .tuple(
    fc.constantFrom(...simulatorLines.filter((l) => l.subarray(0, 13).toString() === '{"DeviceId":"')),
    fc.constantFrom('"ABCDEF0123456789ABCDEF0123456789ABCDEF01"', '"abcdef0123456789abcdef0123456789abcdef0"', '"abcdef0123456789abcdef0123456789abcdef012"',
      '" abcdef0123456789abcdef0123456789abcdef01 "', '"abcdef0123456789abcdef0123456789abcdef0\\u0031"', '"-"', '""', '"  "', "123", "null", "true", '{"a":1}', '["x"]',
      '"__proto__"', '"constructor"'),
  )
  .map(([line, id]): Piece => ({ bytes: Buffer.concat([Buffer.from(`{"DeviceId":${id}`), line.subarray(line.indexOf('",', 13) + 1)]) }));
const utf16 = fc.tuple(fc.constantFrom(...goodLines), fc.constantFrom("utf16le", "ucs2")).map(([line, enc]): Piece => ({
  bytes: Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(line.toString("utf8"), enc as BufferEncoding)]),
}));
/** A record with a long extra column: a record under a large cap, oversized under a small one. */
const long = fc.tuple(fc.constantFrom(...goodLines), fc.integer({ min: 1, max: 6000 })).map(([line, n]): Piece => ({
  bytes: Buffer.concat([line.subarray(0, line.length - 1), Buffer.from(`,"Padding":"${"x".repeat(n)}"}`)]),
  record: true,
}));

const piece: fc.Arbitrary<Piece> = fc.oneof(
  { weight: 10, arbitrary: good },
  { weight: 2, arbitrary: jsonMethod },
  { weight: 2, arbitrary: oddId },
  { weight: 3, arbitrary: truncated },
  { weight: 1, arbitrary: crJoined },
  { weight: 3, arbitrary: blank },
  { weight: 2, arbitrary: randomBytes },
  { weight: 2, arbitrary: randomText },
  { weight: 2, arbitrary: randomJson },
  { weight: 1, arbitrary: deep },
  { weight: 3, arbitrary: oddInserted },
  { weight: 2, arbitrary: oddValue },
  { weight: 1, arbitrary: utf16 },
  { weight: 1, arbitrary: long },
);

/** A file's uncompressed text: pieces joined by LF or CRLF, a BOM at the start or not, a last line end or not. */
interface Content {
  data: Buffer;
  /** 1-based line number → what the line must be read as. */
  expected: Map<number, boolean>;
}

/** Lines the fast path declines: a file that starts with more of them than its trial allows is read by the full parse alone. */
const declined = fc.oneof(jsonMethod, truncated, blank, randomText);
const eol = fc.constantFrom("\n", "\r\n");

const content: fc.Arbitrary<Content> = fc
  .tuple(
    fc.oneof({ weight: 5, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.array(fc.tuple(declined, eol), { minLength: 60, maxLength: 90 }) }),
    fc.array(fc.tuple(piece, eol), { maxLength: 40 }),
    fc.boolean(),
    fc.boolean(),
  )
  .map(([prefix, rest, bom, lastEnd]) => contentOf([...prefix, ...rest], bom, lastEnd));

function contentOf(pieces: [Piece, string][], bom: boolean, lastEnd: boolean): Content {
  const parts: Buffer[] = bom ? [BOM] : [];
  const expected = new Map<number, boolean>();
  let line = 1;
  pieces.forEach(([p, eol], i) => {
    if (p.record !== undefined) expected.set(line, p.record);
    parts.push(p.bytes);
    if (i < pieces.length - 1 || lastEnd) parts.push(Buffer.from(eol));
    line += count(p.bytes, LF) + 1;
  });
  return { data: Buffer.concat(parts), expected };
}

/** A record of tens of KiB up to one longer than gunzip's 512 KiB output chunk (reader.ts's GUNZIP_CHUNK). */
const huge = fc.tuple(fc.constantFrom(...goodLines), fc.integer({ min: 60_000, max: 600_000 })).map(([line, n]): Piece => ({
  bytes: Buffer.concat([line.subarray(0, line.length - 1), Buffer.from(`,"Padding":"${"y".repeat(n)}"}`)]),
  record: true,
}));
/** A file of hundreds of lines (past gunzip's 512 KiB chunks), a few of them huge. */
const bigContent: fc.Arbitrary<Content> = fc
  .array(fc.tuple(fc.oneof({ weight: 40, arbitrary: piece }, { weight: 1, arbitrary: huge }), eol), { minLength: 150, maxLength: 500 })
  .map((pieces) => contentOf(pieces, false, true));

/** Where the uncompressed stream is cut into chunks: each piece becomes a gzip member of its own, and gunzip hands it on as one chunk. */
const cuts = fc.array(fc.nat(), { maxLength: 24 });
const readOptions = fc.record({
  maxLineBytes: fc.constantFrom(undefined, 64, 300, 1000, 1500, 4096),
  sampleLines: fc.constantFrom(undefined, 0, 1, 3),
});

/** gzip members of `data` cut at `at` (positions taken modulo its length). */
function members(data: Buffer, at: readonly number[]): Buffer[] {
  const points = [...new Set(at.map((n) => (data.length === 0 ? 0 : n % data.length)))].sort((a, b) => a - b);
  const bounds = [0, ...points.filter((p) => p > 0), data.length];
  const out: Buffer[] = [];
  for (let i = 1; i < bounds.length; i++) out.push(gzipSync(data.subarray(bounds[i - 1], bounds[i])));
  return out;
}

const source = (parts: readonly Buffer[]): Readable => Readable.from(parts);

/** The members with the last one cut short (by at least one byte; not to nothing, which would leave a valid shorter file). */
function cutInLastMember(parts: readonly Buffer[], at: number): Buffer {
  const last = parts[parts.length - 1] ?? gzipSync(Buffer.alloc(0));
  const keep = parts.length > 1 ? 1 + (at % (last.length - 1)) : at % last.length;
  return Buffer.concat([...parts.slice(0, -1), last.subarray(0, keep)]);
}

// ---- The oracle: lines as the reader's contract describes them ----------------------------------

interface OracleLine {
  line: number;
  oversized: boolean;
}

/**
 * The non-blank lines of `data`: split at LF; a line longer than the cap (its CR and BOM included)
 * counts whatever it holds; otherwise one trailing CR and a leading BOM go, and a line of only
 * spaces, tabs and CRs is blank. A last line without LF is a line when it is not empty.
 */
function oracle(data: Buffer, max: number): OracleLine[] {
  const out: OracleLine[] = [];
  splitLines(data).forEach((raw, i) => {
    if (raw.length > max) out.push({ line: i + 1, oversized: true });
    else if (!isBlank(stripLine(raw))) out.push({ line: i + 1, oversized: false });
  });
  return out;
}

function splitLines(data: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  for (let lf = data.indexOf(LF); lf !== -1; lf = data.indexOf(LF, start)) {
    lines.push(data.subarray(start, lf));
    start = lf + 1;
  }
  if (start < data.length) lines.push(data.subarray(start));
  return lines;
}

function stripLine(raw: Buffer): Buffer {
  let line = raw.length > 0 && raw[raw.length - 1] === CR ? raw.subarray(0, -1) : raw;
  if (line.subarray(0, 3).equals(BOM)) line = line.subarray(3);
  return line;
}

function isBlank(line: Buffer): boolean {
  return line.every((b) => b === 0x20 || b === 0x09 || b === CR);
}

function count(buf: Buffer, byte: number): number {
  let n = 0;
  for (let i = buf.indexOf(byte); i !== -1; i = buf.indexOf(byte, i + 1)) n++;
  return n;
}

function join(lines: Buffer[], sep: string): Buffer {
  return Buffer.concat(lines.flatMap((l, i) => (i === 0 ? [l] : [Buffer.from(sep), l])));
}

// ---- Reading both ways ---------------------------------------------------------------------------

async function readFull(parts: readonly Buffer[], options: ReadOptions): Promise<{ result: FileReadResult; records: DeviceHealthRecord[] }> {
  const records: DeviceHealthRecord[] = [];
  const result = await readRecordFile(source(parts), "fuzz.json.gz", (r) => records.push(r), options);
  return { result, records };
}

/** The counts a read must keep, whatever the input. */
function checkCounts(result: FileReadResult, handedOn: number, data: Buffer, options: ReadOptions): void {
  const lines = oracle(data, options.maxLineBytes ?? DEFAULT_MAX);
  expect(result.recordsRead).toBe(lines.length);
  expect(result.recordsRead).toBe(handedOn + result.malformedLines);
  expect(result.malformedSample.length).toBe(Math.min(result.malformedLines, options.sampleLines ?? 100));
  expect(result.bytes).toBe(data.length);
  const numbers = new Set(lines.map((l) => l.line));
  let last = 0;
  for (const m of result.malformedSample) {
    expect(numbers.has(m.line), `malformed line ${m.line} is not a non-blank line`).toBe(true);
    expect(m.line).toBeGreaterThan(last);
    expect(m.head.length).toBeLessThanOrEqual(200);
    last = m.line;
  }
}

/**
 * Reads `data` (cut into `parts`) with the full parse and with the fast path, checks the counts of
 * both, that they agree line for line and device for device, and that lines known to be records or
 * malformed are read as such.
 */
async function checkBothPaths(input: Content, parts: readonly Buffer[], options: ReadOptions): Promise<void> {
  const max = options.maxLineBytes ?? DEFAULT_MAX;
  const full = await readFull(parts, { ...options, sampleLines: ALL });
  checkCounts(full.result, full.records.length, input.data, { ...options, sampleLines: ALL });

  const malformed = new Set(full.result.malformedSample.map((m) => m.line));
  const oversized = new Set(oracle(input.data, max).filter((l) => l.oversized).map((l) => l.line));
  for (const [line, record] of input.expected) {
    const expectRecord = record && !oversized.has(line);
    expect(malformed.has(line), `line ${line} should be read as ${expectRecord ? "a record" : "malformed"}`).toBe(!expectRecord);
  }

  const reference = new DeviceSet();
  for (const r of full.records) reference.add(r);
  const fast = new DeviceSet();
  const result = await readRecordFile(source(parts), "fuzz.json.gz", fast, options);
  checkCounts(result, fast.size + fast.duplicates, input.data, options);
  expect(result).toEqual({ ...full.result, malformedSample: full.result.malformedSample.slice(0, options.sampleLines ?? 100) });
  expect(fast.size).toBe(reference.size);
  expect(fast.duplicates).toBe(reference.duplicates);
  for (const id of new Set(full.records.map((r) => r.machineId))) expect(resolved(fast, id), id).toEqual(resolved(reference, id));
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (e: unknown) => e ?? new Error("rejected with nothing"),
  );
}

// ---- The properties ------------------------------------------------------------------------------

describe("readRecordFile under fuzzed input", () => {
  it("never throws for any line content, keeps every count, and the fast path agrees with the full parse", async () => {
    await fc.assert(
      fc.asyncProperty(content, cuts, readOptions, async (input, at, options) => {
        await checkBothPaths(input, members(input.data, at), options);
      }),
      { numRuns: 300 },
    );
  });

  it("does the same on files of hundreds of lines, past gunzip's chunks", async () => {
    await fc.assert(
      fc.asyncProperty(bigContent, cuts, fc.constantFrom<ReadOptions>({}, { maxLineBytes: 100_000 }, { maxLineBytes: 2000, sampleLines: 5 }), async (input, at, options) => {
        await checkBothPaths(input, members(input.data, at), options);
      }),
      { numRuns: 30 },
    );
  });

  it("reads a file the same with the stream cut at every position", async () => {
    const id = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567";
    const short = `{"DeviceId":"${id}","OsPlatform":"Windows11","RbacGroupId":7,"RbacGroupName":"Ä/#?\\uD800","Timestamp":"2026-12-01T02:00:00Z",` +
      `"DeviceGatheredInfo":"{\\"AvMode\\":\\"1\\",\\"AvScanResults\\":\\"{\\\\\\"Quick\\\\\\":{\\\\\\"ScanStatus\\\\\\":\\\\\\"Failed\\\\\\"}}\\"}"}`;
    const text = `\uFEFF${short}\r\n\r\n \t\r\n{not json\n${short.replace(id, id.replace("0a", "ff")).replace("Windows11", "Wïndows\u00e9")}`;
    const input: Content = { data: Buffer.from(text), expected: new Map([[1, true], [4, false], [5, true]]) };
    const options: ReadOptions = { maxLineBytes: 1000, sampleLines: 5 };
    for (let at = 1; at < input.data.length; at++) await checkBothPaths(input, members(input.data, [at, (at * 7) % input.data.length]), options);
  });

  it("counts the same on random bytes gzip'd, and fails raw random bytes only with an ExportFileError", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 4000 }), cuts, readOptions, async (bytes, at, options) => {
        const data = Buffer.from(bytes);
        await checkBothPaths({ data, expected: new Map() }, members(data, at), options);
        const error = await rejection(readFull([data], options));
        if (error !== undefined) expect(error).toBeInstanceOf(ExportFileError);
      }),
      { numRuns: 200 },
    );
  });

  it("fails a gzip stream cut inside its last member with an ExportFileError, never a short success", async () => {
    await fc.assert(
      fc.asyncProperty(content, cuts, fc.nat(), async (input, at, cut) => {
        const parts = members(input.data, at);
        const body = cutInLastMember(parts, cut);
        const fullError = await rejection(readFull([body], {}));
        expect(fullError).toBeInstanceOf(ExportFileError);
        expect((fullError as ExportFileError).code).toBe("VerifyFailed");
        expect(await rejection(readRecordFile(source([body]), "fuzz.json.gz", new DeviceSet()))).toBeInstanceOf(ExportFileError);
      }),
      { numRuns: 200 },
    );
  });

  it("drops a 50 MB line under a 1 MiB cap as one malformed line, without buffering it", async () => {
    const line = 50 * 1024 * 1024;
    const xs = Buffer.alloc(1024 * 1024, "x");
    const first = Buffer.concat([Buffer.from('{"DeviceId":"'), xs.subarray(13)]);
    // Live memory only: a full collection before each look, so garbage not yet collected does not count.
    v8.setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const held: number[] = [];
    const plain = Readable.from(
      (function* () {
        for (let sent = 0; sent < line; sent += xs.length) {
          if (sent % (5 * xs.length) === 0) {
            gc();
            held.push(process.memoryUsage().arrayBuffers);
          }
          yield sent === 0 ? first : xs;
        }
        yield Buffer.from('"}\n{"DeviceId":"after"}\n');
      })(),
    );
    const records: DeviceHealthRecord[] = [];
    // NOTE: small compressed chunks: gunzip inflates a whole input chunk before it pauses, and a 16 KiB
    // chunk of one repeated byte is ~16 MB of output whatever the reader does with it.
    const gzip = plain.pipe(createGzip({ level: 1, chunkSize: 1024 }));
    const result = await readRecordFile(gzip, "big.json.gz", (r) => records.push(r), { maxLineBytes: 1024 * 1024 });
    expect(result).toMatchObject({ recordsRead: 2, malformedLines: 1, bytes: line + 24 });
    expect(result.malformedSample[0]).toMatchObject({ line: 1, head: `{"DeviceId":"${"x".repeat(187)}` });
    expect(result.malformedSample[0]!.reason).toMatch(/longer than the 1048576-byte cap/);
    expect(records.map((r) => r.machineId)).toEqual(["after"]);
    // Buffering the line would hold what was read of it: 25 to 45 MB at the later looks. The reader
    // holds the 1 MiB cap and what gunzip has in flight, which comes and goes (a look may catch a few
    // MB of it, more on a busy machine), so the later looks' lowest is compared with the first's.
    expect(held).toHaveLength(10);
    expect(Math.min(...held.slice(5)) - held[0]!).toBeLessThan(8 * 1024 * 1024);
  });
});

describe("readRecordFile, inputs the fuzz found", () => {
  // NOTE: at commit 2ce93f7, shared/health/recordScanner.ts's controlCharacters made
  // `new Int32Array(buf.buffer, offset, 0)` at an offset off a 4-byte boundary whenever the fast path
  // decoded a block of 1-3 bytes (a short non-blank line at the end of a gunzip chunk): a RangeError
  // out of the reader, which failed the whole summary on every retry.
  it("reads a short last line of a gunzip chunk that starts off a 4-byte boundary", async () => {
    for (const pad of ["", "a", "ab", "abc"]) {
      const record = `{"DeviceId":"0a1b2c3d4e5f60718293a4b5c6d7e8f901234567","DeviceName":"${pad}"}`;
      // Two gzip members: gunzip writes the second's output right after the first's, in the same buffer.
      const parts = [gzipSync(record), gzipSync("\n\n]\n")];
      const full = await readFull(parts, {});
      expect(full.result).toMatchObject({ recordsRead: 2, malformedLines: 1 });
      const result = await readRecordFile(source(parts), "fuzz.json.gz", new DeviceSet());
      expect(result).toEqual(full.result);
    }
  });
});

describe("summariseSnapshot under fuzzed input", () => {
  /** A file of the snapshot: fuzzed content, or the same cut inside its last gzip member (a failed file). */
  const snapshotFile = fc.tuple(content, cuts, fc.boolean(), fc.nat()).map(([input, at, broken, cut]) => {
    const parts = members(input.data, at);
    return { input, parts: broken ? [cutInLastMember(parts, cut)] : parts, broken };
  });

  /** The stats a summary must give: the sums of reading each file that is not broken, devices counted once over all files. */
  async function expectedStats(files: { parts: Buffer[]; broken: boolean }[], maxLineBytes: number | undefined) {
    const devices = new DeviceSet();
    let recordsRead = 0;
    let malformedLines = 0;
    for (const file of files.filter((f) => !f.broken)) {
      const { result, records } = await readFull(file.parts, { maxLineBytes });
      recordsRead += result.recordsRead;
      malformedLines += result.malformedLines;
      for (const r of records) devices.add(r);
    }
    return { filesRead: files.filter((f) => !f.broken).length, recordsRead, malformedLines, devices: devices.size, duplicates: devices.duplicates };
  }

  async function summarise(files: { parts: Buffer[] }[], parallelism: number, maxLineBytes: number | undefined, quarantineSampleLines: number) {
    const snapshot: SnapshotFile[] = files.map((f, i) => ({ name: `f${i}.json.gz`, open: async () => source(f.parts) }));
    return summariseSnapshot({ files: snapshot, generatedTime: "2026-12-01T02:00:00Z", runId: "fuzz", parallelism, quarantineSampleLines, logger: new MemoryLogger(), maxLineBytes });
  }

  it("with parallelism 1, counts what the reader counts, file by file, and lists each broken file", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(snapshotFile, { minLength: 1, maxLength: 3 }), readOptions, fc.nat({ max: 4 }), async (files, { maxLineBytes }, sample) => {
        const { stats } = await summarise(files, 1, maxLineBytes, sample);
        expect(stats).toMatchObject(await expectedStats(files, maxLineBytes));
        expect(stats.failedFiles.map((f) => f.name)).toEqual(files.flatMap((f, i) => (f.broken ? [`f${i}.json.gz`] : [])));
        expect(stats.malformedSample.length).toBe(Math.min(sample, stats.malformedLines));
      }),
      { numRuns: 100 },
    );
  });

  it("with parallelism 2, counts the same and gives the same rows as parallelism 1", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(snapshotFile, { minLength: 2, maxLength: 4 }), readOptions, async (files, { maxLineBytes }) => {
        const one = await summarise(files, 1, maxLineBytes, 3);
        const two = await summarise(files, 2, maxLineBytes, 3);
        expect(two.stats).toMatchObject(await expectedStats(files, maxLineBytes));
        expect(new Set(two.stats.failedFiles.map((f) => f.name))).toEqual(new Set(one.stats.failedFiles.map((f) => f.name)));
        expect(two.rows).toEqual(one.rows);
      }),
      { numRuns: 3 },
    );
  });
});
