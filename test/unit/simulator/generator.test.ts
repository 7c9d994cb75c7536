import { createHash } from "node:crypto";
import { gunzipSync, inflateRawSync } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AV_MODES, type DeviceHealthRecord, type OsKind, type UpToDate } from "../../../shared/health/record.js";
import type { SimulatedDataset, SimulatedExportFile } from "../../../local/simulator/dataset.js";
import {
  DEFAULT_GENERATED_TIME,
  MIN_DEVICES_FOR_ALL_QUIRKS,
  applyFileFaults,
  fillerDataset,
  generateDataset,
  generateFaultedDataset,
  toFileRecord,
  toJsonRecord,
} from "../../../local/simulator/generator.js";

// ---------------------------------------------------------------------------------------------
// A plain, independent reading of the files: gunzip, split lines, JSON.parse, parse the nested
// strings, normalise, keep the latest record per device.

type Raw = Record<string, unknown>;

interface ReadLine {
  file: SimulatedExportFile;
  text: string;
  raw?: Raw;
}

interface ReadFile {
  file: SimulatedExportFile;
  members: Buffer[];
  bytes: Buffer;
  bom: boolean;
  crlf: boolean;
  blankLines: number;
  finalNewline: boolean;
  records: ReadLine[];
  malformed: ReadLine[];
}

/** Walks the gzip members one by one (Node writes a plain 10-byte header and an 8-byte trailer). */
function gzipMembers(body: Buffer): Buffer[] {
  const members: Buffer[] = [];
  let offset = 0;
  while (offset < body.length) {
    expect([body[offset], body[offset + 1], body[offset + 2], body[offset + 3]]).toEqual([0x1f, 0x8b, 8, 0]);
    const { buffer, engine } = inflateRawSync(body.subarray(offset + 10), { info: true } as object) as unknown as {
      buffer: Buffer;
      engine: { bytesWritten: number };
    };
    members.push(buffer);
    offset += 10 + engine.bytesWritten + 8;
  }
  expect(offset).toBe(body.length);
  return members;
}

function readFile(file: SimulatedExportFile): ReadFile {
  const members = gzipMembers(file.body);
  const bytes = Buffer.concat(members);
  expect(bytes.equals(gunzipSync(file.body))).toBe(true);
  const bom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
  const text = bytes.subarray(bom ? 3 : 0).toString("utf8");
  const finalNewline = text.endsWith("\n");
  const pieces = text.split("\n");
  if (finalNewline) pieces.pop();
  const crlf = pieces.some((p) => p.endsWith("\r"));
  let blankLines = 0;
  const records: ReadLine[] = [];
  const malformed: ReadLine[] = [];
  for (const piece of pieces) {
    const line = piece.endsWith("\r") ? piece.slice(0, -1) : piece;
    if (line === "") {
      blankLines++;
      continue;
    }
    let raw: Raw;
    try {
      raw = JSON.parse(line) as Raw;
    } catch {
      malformed.push({ file, text: line });
      continue;
    }
    records.push({ file, text: line, raw });
  }
  return { file, members, bytes, bom, crlf, blankLines, finalNewline, records, malformed };
}

const nested = (value: unknown): Raw | null => (typeof value === "string" ? (JSON.parse(value) as Raw) : ((value as Raw | null | undefined) ?? null));
const text = (value: unknown): string | null =>
  value === undefined || value === null || value === "" || value === "-" ? null : String(value);
const upToDate = (value: unknown): UpToDate =>
  value === true || value === "True" ? "True" : value === false || value === "False" ? "False" : "Unknown";
const osKind = (platform: string | null): OsKind =>
  platform?.startsWith("Windows") ? "windows" : platform === "Linux" ? "linux" : platform === "macOS" ? "mac" : "other";

function normalise(raw: Raw): DeviceHealthRecord {
  const info = nested(raw["DeviceGatheredInfo"]) ?? {};
  const scans = nested(info["AvScanResults"]) ?? {};
  const quick = (scans["Quick"] as Raw | null | undefined) ?? {};
  const full = (scans["Full"] as Raw | null | undefined) ?? {};
  const platform = text(raw["OsPlatform"]);
  return {
    machineId: raw["DeviceId"] as string,
    computerDnsName: text(raw["DeviceName"]),
    osPlatform: platform,
    osVersion: text(raw["OsVersion"]),
    osKind: osKind(platform),
    lastSeenTime: text(raw["LastSeenTime"]),
    rbacGroupId: (raw["RbacGroupId"] as number | undefined) ?? null,
    rbacGroupName: text(raw["RbacGroupName"]),
    dataRefreshTimestamp: text(raw["Timestamp"]),
    avMode: text(info["AvMode"]) ?? "",
    avSignatureVersion: text(info["AvSignatureVersion"]),
    avEngineVersion: text(info["AvEngineVersion"]),
    avPlatformVersion: text(info["AvPlatformVersion"]),
    avSignatureUpdateTime: text(info["AvSignatureUpdateTime"]),
    avEngineUpdateTime: text(info["AvEngineUpdateTime"]),
    avPlatformUpdateTime: text(info["AvPlatformUpdateTime"]),
    avSignaturePublishTime: text(info["AvSignaturePublishTime"]),
    avIsSignatureUpToDate: upToDate(info["AvIsSignatureUptoDate"]),
    avIsEngineUpToDate: upToDate(info["AvIsEngineUptodate"]),
    avIsPlatformUpToDate: upToDate(info["AvIsPlatformUptodate"]),
    cloudProtectionState: text(info["CloudProtectionState"]),
    quickScanResult: text(quick["ScanStatus"]),
    quickScanError: text(quick["ErrorCode"]),
    quickScanTime: text(quick["Timestamp"]),
    fullScanResult: text(full["ScanStatus"]),
    fullScanError: text(full["ErrorCode"]),
    fullScanTime: text(full["Timestamp"]),
  };
}

const time = (iso: string | null): number => (iso === null ? Number.NEGATIVE_INFINITY : Date.parse(iso));

/** Latest by dataRefreshTimestamp, then lastSeenTime; a full tie would make the truth ambiguous. */
function latest(a: DeviceHealthRecord, b: DeviceHealthRecord): DeviceHealthRecord {
  const byRefresh = time(a.dataRefreshTimestamp) - time(b.dataRefreshTimestamp);
  if (byRefresh !== 0 && !Number.isNaN(byRefresh)) return byRefresh > 0 ? a : b;
  const bySeen = time(a.lastSeenTime) - time(b.lastSeenTime);
  expect(bySeen, `tie between two records of ${a.machineId}`).not.toBe(0);
  return bySeen > 0 ? a : b;
}

function readAll(dataset: SimulatedDataset): { files: ReadFile[]; devices: DeviceHealthRecord[] } {
  const files = dataset.files.map(readFile);
  const byId = new Map<string, DeviceHealthRecord>();
  for (const f of files) {
    for (const line of f.records) {
      const record = normalise(line.raw!);
      const seen = byId.get(record.machineId);
      byId.set(record.machineId, seen === undefined ? record : latest(seen, record));
    }
  }
  const devices = [...byId.values()].sort((a, b) => (a.machineId < b.machineId ? -1 : 1));
  return { files, devices };
}

function fingerprint(dataset: SimulatedDataset): { files: string; devices: string } {
  const files = createHash("sha256");
  for (const f of dataset.files) files.update(`${f.path}|${f.rbacGroupId}|${f.records}|${f.malformedLines}|`).update(f.body);
  const devices = createHash("sha256").update(JSON.stringify(dataset.devices)).digest("hex");
  return { files: files.digest("hex"), devices };
}

// ---------------------------------------------------------------------------------------------
// What the files show: which quirks are present.

const TOP_KEYS = new Set(["DeviceId", "DeviceName", "OsPlatform", "OsVersion", "LastSeenTime", "RbacGroupId", "RbacGroupName", "Timestamp", "DeviceGatheredInfo"]);
const INFO_KEYS = new Set([
  "AvMode",
  "AvSignatureVersion",
  "AvEngineVersion",
  "AvPlatformVersion",
  "AvEngineUpdateTime",
  "AvSignatureUpdateTime",
  "AvPlatformUpdateTime",
  "AvSignaturePublishTime",
  "AvIsSignatureUptoDate",
  "AvIsEngineUptodate",
  "AvIsPlatformUptodate",
  "CloudProtectionState",
  "AvSignatureDataRefreshTime",
  "AvModeDataRefreshTime",
  "AvScanResults",
]);

function quirksIn(files: ReadFile[]): Set<string> {
  const found = new Set<string>();
  const groupsById = new Map<string, Set<number>>();
  for (const f of files) {
    if (f.bom) found.add("bom");
    if (f.crlf) found.add("crlf");
    if (f.blankLines > 0) found.add("blank lines");
    if (f.members.length > 1) found.add("several gzip members");
    if (!f.finalNewline) found.add("no final newline");
    for (const { raw } of f.records) {
      const r = raw!;
      const groups = groupsById.get(r["DeviceId"] as string) ?? new Set<number>();
      groups.add(r["RbacGroupId"] as number);
      groupsById.set(r["DeviceId"] as string, groups);
      if (Object.keys(r).some((k) => !TOP_KEYS.has(k))) found.add("extra columns");
      if ([...TOP_KEYS].some((k) => !(k in r))) found.add("missing fields");
      if (Object.values(r).includes(null)) found.add("null fields");
      const infoValue = r["DeviceGatheredInfo"];
      if (typeof infoValue === "string") found.add("DeviceGatheredInfo string");
      if (typeof infoValue === "object" && infoValue !== null) found.add("DeviceGatheredInfo object");
      const info = nested(infoValue);
      if (info === null) continue;
      if (Object.keys(info).some((k) => !INFO_KEYS.has(k))) found.add("extra columns");
      if ([...INFO_KEYS].some((k) => !(k in info))) found.add("missing fields");
      if (Object.values(info).includes(null)) found.add("null fields");
      const flags = [info["AvIsSignatureUptoDate"], info["AvIsEngineUptodate"], info["AvIsPlatformUptodate"]];
      if (flags.some((v) => typeof v === "boolean")) found.add("booleans");
      if (flags.includes("Unknown")) found.add("Unknown");
      if (typeof info["AvScanResults"] === "string") found.add("AvScanResults string");
      if (typeof info["AvScanResults"] === "object" && info["AvScanResults"] !== null) found.add("AvScanResults object");
      const scans = nested(info["AvScanResults"]);
      const scanValues = [scans?.["Quick"], scans?.["Full"]].flatMap((s) => (s ? Object.values(s as Raw) : []));
      if (scanValues.includes("-")) {
        found.add("- placeholders");
        expect(["macOS", "Linux"]).toContain(r["OsPlatform"]);
      }
    }
  }
  if ([...groupsById.values()].some((g) => g.size > 1)) found.add("device in two groups");
  return found;
}

const ALL_QUIRKS = [
  "bom",
  "crlf",
  "blank lines",
  "several gzip members",
  "no final newline",
  "extra columns",
  "missing fields",
  "null fields",
  "DeviceGatheredInfo string",
  "DeviceGatheredInfo object",
  "AvScanResults string",
  "AvScanResults object",
  "booleans",
  "Unknown",
  "- placeholders",
  "device in two groups",
];

const PATH = /^(\d{4}-\d{2}-\d{2})\/(\d{4})\/InfoGatheringExport\/json\/OrgId=([0-9a-f-]{36})\/_RbacGroupId=(\d+)\/part-(\d{5})-([0-9a-f-]{36})\.c000\.json\.gz$/;

// ---------------------------------------------------------------------------------------------

describe("generateDataset", () => {
  const options = { seed: 42, devices: 3000, recordsPerFile: 400 };
  const dataset = generateDataset(options);
  const read = readAll(dataset);

  it("gives byte-identical files and the same truth for the same options", () => {
    const again = generateDataset(options);
    expect(fingerprint(again)).toEqual(fingerprint(dataset));
    expect(again.devices).toEqual(dataset.devices);
  });

  it("gives the content it gave when this test was written (a change to a seed's output is a decision, not an accident)", () => {
    // NOTE: over the gunzipped content, so that another zlib build (a Node upgrade) does not count as a change.
    const content = createHash("sha256");
    for (const f of dataset.files) content.update(`${f.path}|${f.rbacGroupId}|${f.records}|${f.malformedLines}|`).update(gunzipSync(f.body));
    expect(content.digest("hex")).toBe("4db8905ca2aa6d0e6394f06832adb3e664c826118f8507ee1ffa268fb21efeb2");
    expect(fingerprint(dataset).devices).toBe("1908ec1bb8e1cf3fe239b71ef179258fb6d216bfc9db38391a02e5ac0f45c337");
  });

  it("gives different files and devices for a different seed", () => {
    const other = generateDataset({ ...options, seed: 43 });
    const a = fingerprint(dataset);
    const b = fingerprint(other);
    expect(b.files).not.toBe(a.files);
    expect(b.devices).not.toBe(a.devices);
    const ids = new Set(dataset.devices.map((d) => d.machineId));
    expect(other.devices.some((d) => ids.has(d.machineId))).toBe(false);
  });

  it("has a truth equal to a plain reading of its files", () => {
    expect(dataset.deviceCount).toBe(3000);
    expect(dataset.devices).toHaveLength(3000);
    expect(read.devices).toEqual(dataset.devices);
  });

  it("counts each file's records and has no malformed line unless asked", () => {
    for (const f of read.files) {
      expect(f.file.records).toBe(f.records.length);
      expect(f.file.malformedLines).toBe(0);
      expect(f.malformed).toHaveLength(0);
    }
  });

  it("writes every quirk of the real export", () => {
    expect([...quirksIn(read.files)].sort()).toEqual([...ALL_QUIRKS].sort());
  });

  it(`writes every quirk from ${MIN_DEVICES_FOR_ALL_QUIRKS} devices on, even in one file`, () => {
    for (const recordsPerFile of [1, 3, 5000]) {
      const small = generateDataset({ seed: 5, devices: MIN_DEVICES_FOR_ALL_QUIRKS, recordsPerFile });
      const smallRead = readAll(small);
      expect([...quirksIn(smallRead.files)].sort()).toEqual([...ALL_QUIRKS].sort());
      expect(smallRead.devices).toEqual(small.devices);
    }
  });

  it("writes every quirk from that size on for any seed and split (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -1_000_000, max: 1_000_000 }),
        fc.integer({ min: MIN_DEVICES_FOR_ALL_QUIRKS, max: 60 }),
        fc.integer({ min: 1, max: 100 }),
        (seed, devices, recordsPerFile) => {
          const ds = generateDataset({ seed, devices, recordsPerFile });
          expect([...quirksIn(readAll(ds).files)].sort()).toEqual([...ALL_QUIRKS].sort());
        },
      ),
      { numRuns: 60 },
    );
  });

  it("writes clean, documented-shape files with quirks off, and the same kind of truth", () => {
    const clean = generateDataset({ ...options, quirks: false });
    const cleanRead = readAll(clean);
    expect([...quirksIn(cleanRead.files)].sort()).toEqual(["DeviceGatheredInfo string", "AvScanResults string", "Unknown"].sort());
    expect(cleanRead.devices).toEqual(clean.devices);
    expect(cleanRead.files.reduce((n, f) => n + f.records.length, 0)).toBe(clean.devices.length);
  });

  it("keeps a moved device's latest record, by Timestamp then lastSeenTime", () => {
    const byId = new Map<string, Raw[]>();
    for (const f of read.files) for (const { raw } of f.records) byId.set(raw!["DeviceId"] as string, [...(byId.get(raw!["DeviceId"] as string) ?? []), raw!]);
    const moved = [...byId.values()].filter((records) => records.length > 1);
    expect(moved.length / dataset.deviceCount).toBeGreaterThan(0.01);
    expect(moved.length / dataset.deviceCount).toBeLessThan(0.06);
    const truth = new Map(dataset.devices.map((d) => [d.machineId, d]));
    let sameTimestamp = 0;
    let timestampBeatsLastSeen = 0;
    for (const records of moved) {
      expect(records).toHaveLength(2);
      const [a, b] = records.map(normalise) as [DeviceHealthRecord, DeviceHealthRecord];
      expect(a.rbacGroupId).not.toBe(b.rbacGroupId);
      const winner = latest(a, b);
      const loser = winner === a ? b : a;
      expect(truth.get(winner.machineId)).toEqual(winner);
      expect(truth.get(winner.machineId)).not.toEqual(loser);
      if (winner.dataRefreshTimestamp === loser.dataRefreshTimestamp) sameTimestamp++;
      else if (time(loser.lastSeenTime) > time(winner.lastSeenTime)) timestampBeatsLastSeen++;
    }
    expect(sameTimestamp).toBeGreaterThan(0);
    expect(timestampBeatsLastSeen).toBeGreaterThan(0);
  });

  it("splits files per device group, then into parts of at most recordsPerFile, on the export's paths", () => {
    const perGroup = new Map<number, ReadFile[]>();
    const guids = new Set<string>();
    const orgs = new Set<string>();
    for (const f of read.files) {
      const m = PATH.exec(f.file.path);
      expect(m, f.file.path).not.toBeNull();
      const [, date, hhmm, org, group, part, guid] = m!;
      expect(`${date}T${hhmm!.slice(0, 2)}:${hhmm!.slice(2)}:00Z`).toBe(dataset.generatedTime);
      orgs.add(org!);
      guids.add(guid!);
      expect(Number(group)).toBe(f.file.rbacGroupId);
      for (const { raw } of f.records) expect(raw!["RbacGroupId"]).toBe(f.file.rbacGroupId);
      expect(f.records.length).toBeGreaterThan(0);
      expect(f.records.length).toBeLessThanOrEqual(options.recordsPerFile);
      expect(Number(part)).toBe(perGroup.get(f.file.rbacGroupId)?.length ?? 0);
      perGroup.set(f.file.rbacGroupId, [...(perGroup.get(f.file.rbacGroupId) ?? []), f]);
    }
    expect(orgs.size).toBe(1);
    expect(guids.size).toBe(1);
    expect(new Set(dataset.files.map((f) => f.path)).size).toBe(dataset.files.length);
    for (const files of perGroup.values()) {
      const total = files.reduce((n, f) => n + f.records.length, 0);
      expect(files).toHaveLength(Math.ceil(total / options.recordsPerFile));
      files.slice(0, -1).forEach((f) => expect(f.records).toHaveLength(options.recordsPerFile));
    }
    // Part names repeat across groups, as in the real export.
    const names = dataset.files.map((f) => f.path.slice(f.path.lastIndexOf("/") + 1));
    expect(new Set(names).size).toBeLessThan(names.length);
  });

  it("uses generatedTime for the paths and the default when none is given", () => {
    expect(dataset.generatedTime).toBe(DEFAULT_GENERATED_TIME);
    const later = generateDataset({ seed: 1, devices: 50, generatedTime: "2027-03-04T17:45Z" });
    expect(later.generatedTime).toBe("2027-03-04T17:45:00Z");
    for (const f of later.files) expect(f.path.startsWith("2027-03-04/1745/InfoGatheringExport/json/OrgId=")).toBe(true);
    for (const d of later.devices) if (d.lastSeenTime) expect(Date.parse(d.lastSeenTime)).toBeLessThanOrEqual(Date.parse("2027-03-04T17:45:00Z"));
  });

  it("has realistic variety", () => {
    const d = dataset.devices;
    const values = <K extends keyof DeviceHealthRecord>(key: K): Set<DeviceHealthRecord[K]> => new Set(d.map((r) => r[key]));
    for (const id of values("machineId")) expect(id).toMatch(/^[0-9a-f]{40}$/);
    expect([...values("osPlatform")].sort()).toEqual(
      ["Linux", "Windows10", "Windows11", "WindowsServer2016", "WindowsServer2019", "WindowsServer2022", "WindowsServer2025", "macOS", null].sort(),
    );
    for (const r of d) {
      if (r.osPlatform?.startsWith("Windows") && r.osVersion !== null) expect(r.osVersion).toMatch(/^10\.0\.\d{5}\.\d+$/);
      expect(r.osKind).toBe(osKind(r.osPlatform));
    }
    expect([...values("osKind")].sort()).toEqual(["linux", "mac", "other", "windows"]);
    const groups = new Map(d.map((r) => [r.rbacGroupId, r.rbacGroupName]));
    expect(groups.size).toBeGreaterThanOrEqual(8);
    expect(groups.size).toBeLessThanOrEqual(15);
    for (const awkward of ["Serveurs/Paris #1", "Ünïcode ✓", "Q?A", "Back\\slash", 'Quote "x"']) expect([...groups.values()]).toContain(awkward);
    expect(new Set([...values("avMode")])).toEqual(new Set(Object.keys(AV_MODES)));
    for (const key of ["avIsSignatureUpToDate", "avIsEngineUpToDate", "avIsPlatformUpToDate"] as const) {
      expect(new Set(values(key))).toEqual(new Set(["True", "False", "Unknown"]));
    }
    expect(values("cloudProtectionState")).toEqual(new Set(["Enabled", "Disabled", "NotReported", null]));
    expect(values("quickScanResult")).toEqual(new Set(["Completed", "Failed", "Cancelled", null]));
    expect([...values("quickScanError")].filter((e) => e !== null).every((e) => /^0x[0-9a-f]{8}$/.test(e!))).toBe(true);
    expect(values("quickScanError").size).toBeGreaterThan(3);

    const now = Date.parse(dataset.generatedTime);
    const ageDays = d.filter((r) => r.lastSeenTime !== null).map((r) => (now - Date.parse(r.lastSeenTime!)) / 86_400_000);
    const stale = ageDays.filter((a) => a > 7);
    expect(stale.length / d.length).toBeGreaterThan(0.04);
    expect(stale.length / d.length).toBeLessThan(0.15);
    expect(Math.max(...ageDays)).toBeLessThanOrEqual(60);
    expect(Math.min(...stale)).toBeGreaterThanOrEqual(8);

    // A long tail of versions: many distinct ones, the most common one a minority.
    for (const key of ["avSignatureVersion", "avEngineVersion", "avPlatformVersion"] as const) {
      const counts = new Map<string, number>();
      for (const r of d) if (r[key] !== null) counts.set(r[key]!, (counts.get(r[key]!) ?? 0) + 1);
      expect(counts.size).toBeGreaterThan(15);
      expect(Math.max(...counts.values()) / d.length).toBeLessThan(0.5);
    }
    const names = values("computerDnsName");
    expect([...names].filter((n) => n !== null).every((n) => /^[a-zA-Z0-9-]+(\.[a-z]+)*$/.test(n!))).toBe(true);
    expect([...names].some((n) => /^[a-z]+\d*-\d+\.contoso\.com$/.test(n ?? ""))).toBe(true);
  });

  it("rejects bad options with a message naming the option", () => {
    expect(() => generateDataset({ seed: 1.5, devices: 1 })).toThrow(/seed/);
    expect(() => generateDataset({ seed: 1, devices: -1 })).toThrow(/devices/);
    expect(() => generateDataset({ seed: 1, devices: 1, recordsPerFile: 0 })).toThrow(/recordsPerFile/);
    expect(() => generateDataset({ seed: 1, devices: 1, generatedTime: "2026-12-01T02:00:30Z" })).toThrow(/generatedTime/);
    expect(() => generateDataset({ seed: 1, devices: 1, generatedTime: "yesterday" })).toThrow(/generatedTime/);
    expect(() => generateDataset({ seed: 1, devices: 0, faults: { malformedLines: 1 } })).toThrow(/malformedLines/);
  });

  it("generates an empty snapshot for zero devices", () => {
    const empty = generateDataset({ seed: 1, devices: 0 });
    expect(empty.files).toEqual([]);
    expect(empty.devices).toEqual([]);
  });

  it("keeps its invariants for any seed, size and split (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -1_000_000, max: 1_000_000 }),
        fc.integer({ min: 1, max: 120 }),
        fc.integer({ min: 1, max: 40 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 5 }),
        (seed, devices, recordsPerFile, quirks, malformedLines) => {
          const ds = generateDataset({ seed, devices, recordsPerFile, quirks, faults: { malformedLines } });
          const r = readAll(ds);
          expect(r.devices).toEqual(ds.devices);
          let malformed = 0;
          for (const f of r.files) {
            expect(f.records.length).toBe(f.file.records);
            expect(f.records.length).toBeLessThanOrEqual(recordsPerFile);
            expect(f.malformed).toHaveLength(f.file.malformedLines);
            malformed += f.malformed.length;
          }
          expect(malformed).toBe(malformedLines);
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe("data faults", () => {
  it("adds malformed lines, spread over files, counted per file, leaving the truth intact", () => {
    const { dataset, faulted } = generateFaultedDataset({ seed: 9, devices: 2000, recordsPerFile: 250, faults: { malformedLines: 13 } });
    const read = readAll(dataset);
    expect(faulted).toEqual({ emptyFile: null, truncatedGzipFile: null, malformedLines: 13 });
    const withMalformed = read.files.filter((f) => f.malformed.length > 0);
    expect(withMalformed.length).toBeGreaterThan(1);
    for (const f of read.files) {
      expect(f.malformed).toHaveLength(f.file.malformedLines);
      for (const line of f.malformed) {
        expect(line.text.trim()).not.toBe("");
        expect(() => JSON.parse(line.text)).toThrow();
      }
    }
    const all = read.files.flatMap((f) => f.malformed.map((m) => m.text));
    expect(all.some((t) => t.startsWith('{"DeviceId":"'))).toBe(true);
    expect(all.some((t) => !t.startsWith("{"))).toBe(true);
    expect(read.devices).toEqual(dataset.devices);
    const clean = generateDataset({ seed: 9, devices: 2000, recordsPerFile: 250 });
    expect(dataset.devices).toEqual(clean.devices);
  });

  it("empties one file and cuts another one's gzip short, and says which", () => {
    const { dataset, faulted } = generateFaultedDataset({
      seed: 11,
      devices: 2000,
      recordsPerFile: 250,
      faults: { emptyFile: true, truncatedGzipFile: true, malformedLines: 3 },
    });
    const clean = generateDataset({ seed: 11, devices: 2000, recordsPerFile: 250, faults: { malformedLines: 3 } });
    expect(faulted.emptyFile).not.toBeNull();
    expect(faulted.truncatedGzipFile).not.toBeNull();
    expect(faulted.emptyFile).not.toBe(faulted.truncatedGzipFile);
    expect(faulted.malformedLines).toBe(dataset.files.reduce((n, f) => n + f.malformedLines, 0));

    const empty = dataset.files.find((f) => f.path === faulted.emptyFile)!;
    expect(empty.body).toHaveLength(0);
    expect(empty.records).toBe(0);
    expect(empty.malformedLines).toBe(0);

    const truncated = dataset.files.find((f) => f.path === faulted.truncatedGzipFile)!;
    const original = clean.files.find((f) => f.path === faulted.truncatedGzipFile)!;
    expect(truncated.body.length).toBeLessThan(original.body.length);
    expect(original.body.subarray(0, truncated.body.length).equals(truncated.body)).toBe(true);
    expect(() => gunzipSync(truncated.body)).toThrow(/unexpected end of file/);
    expect(truncated.records).toBe(original.records);

    // Every other file is untouched.
    for (const f of dataset.files) {
      if (f.path === faulted.emptyFile || f.path === faulted.truncatedGzipFile) continue;
      expect(f.body.equals(clean.files.find((c) => c.path === f.path)!.body)).toBe(true);
    }
    expect(dataset.devices).toEqual(clean.devices);
  });

  it("applies file faults to an existing dataset without changing it", () => {
    const dataset = generateDataset({ seed: 3, devices: 500, recordsPerFile: 100 });
    const before = fingerprint(dataset);
    const { dataset: damaged, faulted } = applyFileFaults(dataset, { emptyFile: true, truncatedGzipFile: true });
    expect(fingerprint(dataset)).toEqual(before);
    expect(damaged.files.find((f) => f.path === faulted.emptyFile)!.body).toHaveLength(0);
    expect(() => gunzipSync(damaged.files.find((f) => f.path === faulted.truncatedGzipFile)!.body)).toThrow();
    expect(applyFileFaults(dataset, { emptyFile: true, truncatedGzipFile: true }).faulted).toEqual(faulted);
    expect(applyFileFaults(dataset, {}).faulted).toEqual({ emptyFile: null, truncatedGzipFile: null, malformedLines: 0 });
  });

  it("refuses a file fault with no file left to damage", () => {
    const one = generateDataset({ seed: 1, devices: 1 });
    expect(one.files).toHaveLength(1);
    expect(() => applyFileFaults(one, { emptyFile: true, truncatedGzipFile: true })).toThrow(/truncatedGzipFile/);
  });
});

describe("toJsonRecord", () => {
  const dataset = generateDataset({ seed: 21, devices: 400 });
  const KEYS = [
    "id",
    "machineId",
    "computerDnsName",
    "osPlatform",
    "osVersion",
    "osKind",
    "lastSeenTime",
    "rbacGroupId",
    "rbacGroupName",
    "dataRefreshTimestamp",
    "avMode",
    "avSignatureVersion",
    "avEngineVersion",
    "avPlatformVersion",
    "avSignatureUpdateTime",
    "avEngineUpdateTime",
    "avPlatformUpdateTime",
    "avSignaturePublishTime",
    "avIsSignatureUpToDate",
    "avIsEngineUpToDate",
    "avIsPlatformUpToDate",
    "cloudProtectionState",
    "quickScanResult",
    "quickScanError",
    "quickScanTime",
    "fullScanResult",
    "fullScanError",
    "fullScanTime",
  ];

  it("gives the JSON method's camelCase properties with id = machineId", () => {
    for (const device of dataset.devices) {
      const json = toJsonRecord(device);
      expect(Object.keys(json).sort()).toEqual([...KEYS].sort());
      expect(json["id"]).toBe(device.machineId);
      const { id, ...rest } = json;
      expect(id).toBe(device.machineId);
      expect(rest).toEqual(device);
    }
  });

  it("with quirks, omits nulls or adds extra columns on some records, deterministically", () => {
    const shaped = dataset.devices.map((d) => toJsonRecord(d, { quirks: true }));
    expect(shaped).toEqual(dataset.devices.map((d) => toJsonRecord(d, { quirks: true })));
    expect(shaped.some((j) => Object.keys(j).some((k) => !KEYS.includes(k)))).toBe(true);
    expect(shaped.some((j, i) => Object.values(dataset.devices[i]!).includes(null) && !Object.values(j).includes(null))).toBe(true);
    shaped.forEach((json, i) => {
      const device = dataset.devices[i]!;
      for (const key of KEYS.filter((k) => k !== "id")) expect(json[key] ?? null).toEqual(device[key as keyof DeviceHealthRecord]);
    });
  });
});

describe("toFileRecord", () => {
  it("writes a record as a documented-shape file line that reads back to the same record", () => {
    const dataset = generateDataset({ seed: 22, devices: 300 });
    for (const device of dataset.devices) {
      const line = toFileRecord(device);
      expect(line).not.toContain("\n");
      const raw = JSON.parse(line) as Raw;
      expect(typeof raw["DeviceGatheredInfo"]).toBe("string");
      expect(typeof nested(raw["DeviceGatheredInfo"])!["AvScanResults"]).toBe("string");
      expect(normalise(raw)).toEqual(device);
    }
  });
});

describe("fillerDataset", () => {
  it("makes distinct gzip-looking files of the size asked, at distinct export paths", () => {
    const filler = fillerDataset({ files: 8, bytesPerFile: 16 * 1024 * 1024, seed: 4 });
    expect(filler.files).toHaveLength(8);
    expect(filler.files.reduce((n, f) => n + f.body.length, 0)).toBe(128 * 1024 * 1024);
    const heads = new Set<string>();
    for (const f of filler.files) {
      expect(f.body.length).toBe(16 * 1024 * 1024);
      expect([f.body[0], f.body[1]]).toEqual([0x1f, 0x8b]);
      expect(f.path).toMatch(PATH);
      expect(f.records).toBe(0);
      heads.add(createHash("md5").update(f.body.subarray(0, 64 * 1024)).digest("hex"));
    }
    expect(heads.size).toBe(8);
    expect(new Set(filler.files.map((f) => f.path)).size).toBe(8);
    expect(filler.devices).toEqual([]);
  });

  it("is deterministic and not trivially compressible", () => {
    const a = fillerDataset({ files: 3, bytesPerFile: 100_000, seed: 8 });
    const b = fillerDataset({ files: 3, bytesPerFile: 100_000, seed: 8 });
    a.files.forEach((f, i) => expect(f.body.equals(b.files[i]!.body)).toBe(true));
    const distinctBytes = new Set(a.files[0]!.body.subarray(0, 4096));
    expect(distinctBytes.size).toBeGreaterThan(200);
  });
});
