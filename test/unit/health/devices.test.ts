import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DeviceSet, DEVICES_PER_PAGE, isScanFailure, parseGroupKey, groupKey, parseTime, ValueTable } from "../../../shared/health/devices.js";
import type { DeviceHealthRecord } from "../../../shared/health/record.js";
import { canonical, resolved } from "./fixtures.js";


function setOf(records: DeviceHealthRecord[], values?: ValueTable): DeviceSet {
  const set = new DeviceSet(values);
  for (const r of records) set.add(r);
  return set;
}

describe("DeviceSet", () => {
  it("keeps each device once, its record with the latest dataRefreshTimestamp", () => {
    const set = setOf([
      canonical({ machineId: "a", dataRefreshTimestamp: "2026-12-01T02:00:00Z", avSignatureVersion: "old" }),
      canonical({ machineId: "a", dataRefreshTimestamp: "2026-12-01T03:00:00Z", avSignatureVersion: "new", lastSeenTime: "2026-11-01T00:00:00Z" }),
      canonical({ machineId: "a", dataRefreshTimestamp: "2026-12-01T01:00:00Z", avSignatureVersion: "older" }),
      canonical({ machineId: "b" }),
    ]);
    expect(set.size).toBe(2);
    expect(set.duplicates).toBe(2);
    expect(resolved(set, "a")?.avSignatureVersion).toBe("new");
  });

  it("breaks a tie of dataRefreshTimestamp on lastSeenTime", () => {
    const set = setOf([
      canonical({ machineId: "a", lastSeenTime: "2026-11-30T10:00:00Z", avMode: "1" }),
      canonical({ machineId: "a", lastSeenTime: "2026-11-30T11:00:00Z", avMode: "2" }),
      canonical({ machineId: "a", lastSeenTime: "2026-11-30T09:00:00Z", avMode: "4" }),
    ]);
    expect(resolved(set, "a")?.avMode).toBe("2");
  });

  it("prefers a known time over an unknown one", () => {
    const set = setOf([
      canonical({ machineId: "a", dataRefreshTimestamp: "2026-12-01T02:00:00Z", avMode: "1" }),
      canonical({ machineId: "a", dataRefreshTimestamp: null, avMode: "2" }),
    ]);
    expect(resolved(set, "a")?.avMode).toBe("1");
  });

  it("packs what the aggregation needs", () => {
    const set = setOf([
      canonical({
        machineId: "a",
        avIsSignatureUpToDate: "False",
        avIsEngineUpToDate: "Unknown",
        avIsPlatformUpToDate: "True",
        quickScanResult: "Failed",
        fullScanError: "0x80508023",
        avSignatureUpdateTime: null,
        avSignaturePublishTime: "2026-11-30T08:00:00Z",
        rbacGroupId: null,
        rbacGroupName: "Loose",
      }),
    ]);
    expect(resolved(set, "a")).toMatchObject({
      signatureUpToDate: 1,
      engineUpToDate: 2,
      platformUpToDate: 0,
      quickScanFailed: true,
      fullScanFailed: true,
      signatureTime: Date.parse("2026-11-30T08:00:00Z"),
      rbacGroup: groupKey(null, "Loose"),
    });
  });

  it("holds 64 bytes per device, its 40-hex-digit machineId included, and no string per device", () => {
    const hex = (i: number) => i.toString(16).padStart(40, "0");
    const set = setOf(Array.from({ length: 40_000 }, (_, i) => canonical({ machineId: hex(i * 7919) })));
    expect(set.data().named).toEqual([]);
    // 44 bytes of summary (10 Uint16 + 3 Float64) and 20 of id (5 Int32), in pages (at most one not
    // full, never a doubled copy), plus the hash table (4 bytes a slot, at most 4 slots a device just
    // after it grows).
    expect(set.packedBytes).toBeLessThanOrEqual((set.size + DEVICES_PER_PAGE) * 64 + set.size * 16);
    expect(set.get(hex(7919 * 5))).toBeDefined();
    expect(set.get(hex(1))).toBeUndefined();
  });

  it("keeps value ids past what 16 bits hold", () => {
    const values = new ValueTable();
    for (let i = 0; i < 70_000; i++) values.id(`v${i}`);
    const records = [
      canonical({ machineId: "a", osPlatform: "Linux", avSignatureVersion: "v69999", dataRefreshTimestamp: "2026-12-01T01:00:00Z" }),
      canonical({ machineId: "b", osPlatform: "v65533", avEngineVersion: "v65534" }),
      canonical({ machineId: "a", osPlatform: "macOS", avSignatureVersion: "v3", dataRefreshTimestamp: "2026-12-01T02:00:00Z" }),
      canonical({ machineId: "c", avPlatformVersion: "v65535", cloudProtectionState: "v1" }),
    ];
    const set = setOf(records, values);
    expect(resolved(set, "a")).toMatchObject({ osPlatform: "macOS", avSignatureVersion: "v3" });
    expect(resolved(set, "b")).toMatchObject({ osPlatform: "v65533", avEngineVersion: "v65534" });
    expect(resolved(set, "c")).toMatchObject({ avPlatformVersion: "v65535", cloudProtectionState: "v1" });
    const copy = new DeviceSet(values);
    copy.merge(set);
    for (const id of ["a", "b", "c"]) expect(resolved(copy, id)).toEqual(resolved(set, id));
  });

  it("merges sets built from other files into the same answer as one set, also across value tables", () => {
    const records = [
      canonical({ machineId: "a", lastSeenTime: "2026-11-30T10:00:00Z", osPlatform: "Linux" }),
      canonical({ machineId: "b" }),
      canonical({ machineId: "a", lastSeenTime: "2026-11-30T12:00:00Z", osPlatform: "macOS" }),
      canonical({ machineId: "c", cloudProtectionState: null }),
      canonical({ machineId: "b", dataRefreshTimestamp: "2026-12-01T05:00:00Z", avEngineVersion: "9" }),
    ];
    const whole = setOf(records);
    const merged = setOf(records.slice(0, 2));
    merged.merge(setOf(records.slice(2), new ValueTable()));
    expect(merged.size).toBe(whole.size);
    expect(merged.duplicates).toBe(whole.duplicates);
    for (const id of ["a", "b", "c"]) expect(resolved(merged, id)).toEqual(resolved(whole, id));
  });

  it("takes back everything added since a checkpoint, and counts a file's distinct devices on commit", () => {
    const before = [canonical({ machineId: "a", osPlatform: "Linux" }), canonical({ machineId: "f".repeat(40) })];
    const file = [
      canonical({ machineId: "a", dataRefreshTimestamp: "2026-12-01T05:00:00Z", osPlatform: "macOS" }),
      canonical({ machineId: "a", dataRefreshTimestamp: "2026-12-01T06:00:00Z", osPlatform: "Windows11" }),
      canonical({ machineId: "b" }),
      canonical({ machineId: "e".repeat(40) }),
    ];
    const set = setOf(before);
    const expected = { size: set.size, duplicates: set.duplicates, a: resolved(set, "a") };
    set.checkpoint();
    for (const r of file) set.add(r);
    set.rollback();
    expect({ size: set.size, duplicates: set.duplicates, a: resolved(set, "a") }).toEqual(expected);
    expect(set.get("b")).toBeUndefined();
    expect(set.get("e".repeat(40))).toBeUndefined();
    expect(set.get("f".repeat(40))).toBeDefined();

    set.checkpoint();
    for (const r of file) set.add(r);
    expect(set.commit()).toBe(3);
    const whole = setOf([...before, ...file]);
    expect(set.size).toBe(whole.size);
    expect(set.duplicates).toBe(whole.duplicates);
    for (const id of ["a", "b", "e".repeat(40), "f".repeat(40)]) expect(resolved(set, id)).toEqual(resolved(whole, id));
  });

  it("keeps the same devices whatever the order records and files arrive in", () => {
    const record = fc.record({
      machineId: fc.constantFrom("a", "b", "c", "d"),
      dataRefreshTimestamp: fc.constantFrom(null, "2026-12-01T02:00:00Z", "2026-12-01T03:00:00Z"),
      lastSeenTime: fc.constantFrom(null, "2026-11-30T01:00:00Z", "2026-11-30T02:00:00Z"),
      avMode: fc.constantFrom("", "0", "1", "2"),
      osPlatform: fc.constantFrom(null, "Windows11", "Linux"),
      avIsSignatureUpToDate: fc.constantFrom("True", "False", "Unknown") as fc.Arbitrary<"True" | "False" | "Unknown">,
    });
    fc.assert(
      fc.property(fc.array(record, { maxLength: 30 }), fc.nat(), fc.nat(), (raw, seed, cut) => {
        const records = raw.map((r) => canonical(r));
        const shuffled = [...records].sort((x, y) => hash(x, seed) - hash(y, seed));
        const at = records.length === 0 ? 0 : cut % records.length;
        const a = setOf(records);
        const b = setOf(shuffled.slice(at));
        b.merge(setOf(shuffled.slice(0, at), new ValueTable()));
        expect(b.size).toBe(a.size);
        expect(b.duplicates).toBe(a.duplicates);
        for (const id of ["a", "b", "c", "d"]) expect(resolved(b, id)).toEqual(resolved(a, id));
      }),
      { numRuns: 300 },
    );
  });
});

function hash(value: object, seed: number): number {
  let h = seed | 0;
  for (const c of JSON.stringify(value)) h = (Math.imul(h, 31) + c.charCodeAt(0)) | 0;
  return h;
}

describe("isScanFailure", () => {
  it.each([
    ["Failed", null, true],
    ["failed", null, true],
    ["Completed", null, false],
    [null, null, false],
    ["Completed", "0x80508023", true],
    [null, "2147942405", true],
    ["Completed", "0", false],
    ["Completed", "0x00000000", false],
    ["Cancelled", null, false],
  ] as const)("result %s with error %s → %s", (result, error, failed) => {
    expect(isScanFailure(result, error)).toBe(failed);
  });
});

describe("parseTime", () => {
  it("reads ISO times, a time without an offset as UTC, and unknowns as NaN", () => {
    expect(parseTime("2026-12-01T02:00:00Z")).toBe(Date.UTC(2026, 11, 1, 2));
    expect(parseTime("2026-12-01T02:00:00")).toBe(Date.UTC(2026, 11, 1, 2));
    expect(parseTime("2026-12-01T04:00:00+02:00")).toBe(Date.UTC(2026, 11, 1, 2));
    expect(parseTime("2026-12-01T02:00:00.1234567Z")).toBe(Date.UTC(2026, 11, 1, 2, 0, 0, 123));
    expect(parseTime(null)).toBeNaN();
    expect(parseTime("soon")).toBeNaN();
  });
});

describe("groupKey", () => {
  it("round-trips id and name, either missing", () => {
    for (const [id, name] of [[412, "Servers-EU"], [null, "x|y"], [7, null], [null, null], [0, ""]] as const) {
      expect(parseGroupKey(groupKey(id, name))).toEqual({ id, name });
    }
  });
});
