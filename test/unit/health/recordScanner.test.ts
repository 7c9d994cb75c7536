import { gunzipSync } from "node:zlib";
import { Readable } from "node:stream";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DeviceSet, ValueTable } from "../../../shared/health/devices.js";
import { normaliseRecord } from "../../../shared/health/normalise.js";
import { readRecordFile } from "../../../shared/health/reader.js";
import { RecordScanner } from "../../../shared/health/recordScanner.js";
import { generateDataset } from "../../../local/simulator/generator.js";
import { fileRecord, resolved } from "./fixtures.js";

/** What the full parse makes of a line: the device's packed summary (ids resolved), or null when the line is malformed. */
function fullParse(line: string): { id: string; summary: Record<string, unknown> } | null {
  let record;
  try {
    record = normaliseRecord(JSON.parse(line));
  } catch {
    return null;
  }
  const set = new DeviceSet();
  set.add(record);
  return { id: record.machineId, summary: resolved(set, record.machineId)! };
}

/** What the fast path makes of it: undefined when it declines. */
function fastPath(line: string): { id: string; summary: Record<string, unknown> } | undefined {
  const set = new DeviceSet();
  const scanner = new RecordScanner(set.values);
  const buf = Buffer.from(line, "utf8");
  if (!scanner.scan(buf, 0, buf.length, set)) {
    expect(set.size).toBe(0);
    return undefined;
  }
  expect(set.size).toBe(1);
  let found: { id: string; summary: Record<string, unknown> } | undefined;
  // The set holds one device: find its id through the full parse's (the fast path keeps no string).
  const full = fullParse(line);
  if (full !== null) found = { id: full.id, summary: resolved(set, full.id) ?? { missing: full.id } };
  return found ?? { id: "?", summary: { acceptedMalformed: line.slice(0, 200) } };
}


/** The property: the fast path declines, or gives exactly what the full parse gives (and never reads a malformed line). */
function agrees(line: string): boolean {
  const fast = fastPath(line);
  if (fast === undefined) return true;
  expect(fast).toEqual(fullParse(line));
  return true;
}

const pad = (n: number): string => String(n).padStart(2, "0");

function linesOf(gz: Buffer): string[] {
  return gunzipSync(gz)
    .toString("utf8")
    .split("\n")
    .map((l) => l.replace(/\r$/, "").replace(/^\uFEFF/, ""))
    .filter((l) => l.trim() !== "");
}

const sampleLines = (() => {
  const dataset = generateDataset({ seed: 11, devices: 400, recordsPerFile: 150 });
  return dataset.files.flatMap((f) => linesOf(f.body));
})();

// Values a field can hold in the wild, and some it should not.
const scalar = fc.oneof(
  fc.constantFrom("True", "False", "Unknown", "true", " True ", "-", "", "0", "1", "5", "Failed", "failed", "Completed", "0x0", "0x80508023"),
  fc.constantFrom("2026-11-30T12:44:02Z", "2026-02-31T00:00:00Z", "2026-11-30T12:44:02.123Z", "2026-11-30T12:44:02", "2026-11-30 12:44:02Z", "1969-12-31T23:59:59Z"),
  fc.string(),
  fc.string({ unit: "grapheme" }),
  fc.constantFrom('quo"te', "back\\slash", "tab\there", "line\nfeed", "Ünïcode ✓", "\u2028", "K\u212Aelvin"),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
);
const TOP = ["DeviceId", "DeviceName", "OsPlatform", "OsVersion", "LastSeenTime", "RbacGroupId", "RbacGroupName", "Timestamp"];
const INFO = ["AvMode", "AvSignatureVersion", "AvEngineVersion", "AvPlatformVersion", "AvEngineUpdateTime", "AvSignatureUpdateTime",
  "AvPlatformUpdateTime", "AvSignaturePublishTime", "AvIsSignatureUptoDate", "AvIsEngineUptodate", "AvIsPlatformUptodate",
  "CloudProtectionState", "AvSignatureDataRefreshTime", "AvModeDataRefreshTime"];
const SCAN = ["ScanStatus", "ErrorCode", "Timestamp"];
const hexId = fc.stringMatching(/^[0-9a-f]{40}$/);

/** An object with some of `keys` (in order, or shuffled), odd-cased or extra keys now and then. */
function objectOf(keys: string[], value: (key: string) => fc.Arbitrary<unknown>): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .tuple(
      fc.subarray(keys, { minLength: 0 }),
      fc.array(fc.tuple(fc.constantFrom("OsArchitecture", "MachineTags", "Extra", "deviceid", "AVMODE", "__proto__x"), scalar), { maxLength: 2 }),
      fc.boolean(),
    )
    .chain(([present, extras, shuffle]) => {
      const names = shuffle ? [...present].reverse() : present;
      return fc.tuple(...names.map((k) => value(k))).map((vals) => {
        const obj: Record<string, unknown> = {};
        names.forEach((k, i) => (obj[k] = vals[i]));
        for (const [k, v] of extras) obj[k] = v;
        return obj;
      });
    });
}

/** A nested object as the export writes it: a JSON string (usually), an object, or a placeholder. */
function nestedForm(inner: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 4, arbitrary: inner.map((o) => JSON.stringify(o)) },
    { weight: 2, arbitrary: inner },
    { weight: 1, arbitrary: fc.constantFrom(null, "", "-", " ", "null", "[]", "{", 5) },
  );
}

const scanObject = objectOf(SCAN, () => scalar);
const scans = objectOf(["Quick", "Full"], () => nestedForm(scanObject));
const info = objectOf([...INFO, "AvScanResults"], (k) => (k === "AvScanResults" ? nestedForm(scans) : scalar));
const record = objectOf([...TOP, "DeviceGatheredInfo"], (k) =>
  k === "DeviceGatheredInfo" ? nestedForm(info) : k === "DeviceId" ? fc.oneof({ weight: 4, arbitrary: hexId }, { weight: 1, arbitrary: scalar }) : scalar,
);

describe("RecordScanner, the summary's fast path", () => {
  it("reads every line of the simulator's files (every quirk) exactly as the full parse does", () => {
    let scanned = 0;
    for (const line of sampleLines) {
      agrees(line);
      if (fastPath(line) !== undefined) scanned++;
    }
    // The export's own shapes are the fast path's: it must not decline them wholesale.
    expect(scanned / sampleLines.length).toBeGreaterThan(0.9);
  });

  it("declines or agrees with the full parse on generated records of every shape", () => {
    fc.assert(fc.property(record, (obj) => agrees(JSON.stringify(obj))), { numRuns: 3000 });
  });

  it("declines or agrees on lines with bytes changed, inserted or removed (malformed JSON among them)", () => {
    const edit = fc.tuple(
      fc.constantFrom(...sampleLines.slice(0, 60)),
      fc.nat(),
      fc.constantFrom("replace", "insert", "delete"),
      fc.constantFrom('"', "\\", "{", "}", "[", "]", ",", ":", " ", "\t", "\u0001", "x", "0", "-", "n", "é", "\\\"", "\\\\"),
    );
    fc.assert(
      fc.property(edit, ([line, at, op, text]) => {
        const i = at % line.length;
        const edited = op === "replace" ? line.slice(0, i) + text + line.slice(i + 1) : op === "insert" ? line.slice(0, i) + text + line.slice(i) : line.slice(0, i) + line.slice(i + 1);
        return agrees(edited);
      }),
      { numRuns: 4000 },
    );
  });

  it("agrees with the full parse line after line in one scanner (what it remembers between lines)", () => {
    // Few device ids and few values, so that lines repeat their neighbours' ids and values.
    const few = fc.constantFrom("True", "False", " True ", "Enabled", "", "-", "0", "1", "Windows11", "4.18.1.0", 7, true, null);
    const line = objectOf([...TOP, "DeviceGatheredInfo"], (k) =>
      k === "DeviceGatheredInfo" ? nestedForm(objectOf([...INFO, "AvScanResults"], (i) => (i === "AvScanResults" ? nestedForm(scans) : few)))
        : k === "DeviceId" ? fc.constantFrom("a".repeat(40), "b".repeat(40), "c", " d ") : few,
    ).map((o) => JSON.stringify(o));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 40 }), (lines) => {
        const fast = new DeviceSet();
        const scanner = new RecordScanner(fast.values);
        const full = new DeviceSet();
        const ids = new Set<string>();
        for (const text of lines) {
          const parsed = fullParse(text);
          if (parsed === null) continue;
          ids.add(parsed.id);
          const buf = Buffer.from(text, "utf8");
          if (!scanner.scan(buf, 0, buf.length, fast)) fast.add(normaliseRecord(JSON.parse(text)));
          full.add(normaliseRecord(JSON.parse(text)));
        }
        expect({ size: fast.size, duplicates: fast.duplicates }).toEqual({ size: full.size, duplicates: full.duplicates });
        for (const id of ids) expect(resolved(fast, id)).toEqual(resolved(full, id));
      }),
      { numRuns: 500 },
    );
  });

  it("reads times in place as Date.parse does, a day past the month's end included", () => {
    const time = fc
      .tuple(fc.integer({ min: 1965, max: 9999 }), fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 32 }), fc.integer({ min: 0, max: 24 }), fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 60 }))
      .map(([y, mo, d, h, mi, se]) => `${y}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}:${pad(se)}Z`);
    fc.assert(
      fc.property(time, time, (seen, refreshed) => {
        const line = JSON.stringify(fileRecord({ top: { LastSeenTime: seen, Timestamp: refreshed }, info: { AvSignatureUpdateTime: seen } }));
        expect(fastPath(line)).toBeDefined();
        return agrees(line);
      }),
      { numRuns: 2000 },
    );
  });

  it("starts its remembered values afresh past 65,536 of them and still agrees", () => {
    const values = new ValueTable();
    const fast = new DeviceSet(values);
    const full = new DeviceSet(new ValueTable());
    const scanner = new RecordScanner(values);
    const ids: string[] = [];
    // A new platform on every line fills what the scanner remembers; the line that finds it full (line
    // 65,535: two strings on line 0, one more on each after) starts afresh, and from it on the group's
    // name changes, so that the new name takes the number the old one had.
    for (let i = 0; i < 65_540; i++) {
      const id = i.toString(16).padStart(40, "0");
      ids.push(id);
      const text = JSON.stringify({ DeviceId: id, OsPlatform: `p${i}`, RbacGroupId: 5, RbacGroupName: i < 65_535 ? "G" : "H" });
      const buf = Buffer.from(text, "utf8");
      expect(scanner.scan(buf, 0, buf.length, fast)).toBe(true);
      full.add(normaliseRecord(JSON.parse(text)));
    }
    for (const id of [ids[0]!, ids[65_534]!, ids[65_535]!, ids[65_536]!, ids[65_539]!]) expect(resolved(fast, id)).toEqual(resolved(full, id));
  });

  it("declines what it does not know, which the full parse then reads", () => {
    const base = sampleLines.find((l) => fastPath(l) !== undefined)!;
    const forms = [
      base.replace('{"DeviceId"', '{ "DeviceId"'), // whitespace
      base.replace('"DeviceId"', '"deviceid"'), // another letter case
      base.replace('"OsPlatform":', '"OsPlatform":"x","OsPlatform":'), // a key twice
      base.replace(/\}$/, ',"OsPlatform":"x"}'), // a key out of order
      base.replace('"DeviceName":', '"Device\\u004eame":'), // an escaped key
    ];
    for (const line of forms) {
      expect(fastPath(line)).toBeUndefined();
      expect(fullParse(line)).not.toBeNull();
    }
  });

  it("gives readRecordFile the same devices and counts with the fast path as without it", async () => {
    const dataset = generateDataset({ seed: 5, devices: 300, recordsPerFile: 120, faults: { malformedLines: 12 } });
    for (const file of dataset.files) {
      const values = new ValueTable();
      const fast = new DeviceSet(values);
      const full = new DeviceSet(values);
      const a = await readRecordFile(Readable.from([file.body]), file.path, fast);
      const b = await readRecordFile(Readable.from([file.body]), file.path, (r) => full.add(r));
      expect(a).toEqual(b);
      expect(fast.data()).toEqual(full.data());
    }
  });
});
