import { describe, expect, it } from "vitest";
import { aggregateDevices, DIMENSIONS, lastSeenBucket, MEASURES, signatureAgeBucket, type SummaryRow } from "../../../shared/health/aggregate.js";
import { DeviceSet } from "../../../shared/health/devices.js";
import { canonical } from "./fixtures.js";

const G = "2026-12-01T02:00:00Z";
const g = Date.parse(G);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const ago = (ms: number) => new Date(g - ms).toISOString();
const snapshot = { generatedTime: G, runId: "run-1", partial: false };

function rowsOf(...records: Parameters<typeof canonical>[0][]): SummaryRow[] {
  const set = new DeviceSet();
  for (const r of records) set.add(canonical(r));
  return aggregateDevices(set, snapshot);
}

function row(rows: SummaryRow[], dimension: string, value: string): SummaryRow {
  const found = rows.find((r) => r.dimension === dimension && r.value === value);
  if (!found) throw new Error(`no row ${dimension}|${value}; have ${rows.filter((r) => r.dimension === dimension).map((r) => r.value).join(", ")}`);
  return found;
}

function values(rows: SummaryRow[], dimension: string): Record<string, number> {
  return Object.fromEntries(rows.filter((r) => r.dimension === dimension).map((r) => [r.value, r.measures.Devices]));
}

/** Five devices whose every count below was worked out by hand. */
const FIVE = [
  { machineId: "A", osPlatform: "Windows11", avMode: "0", lastSeenTime: ago(HOUR), avSignatureUpdateTime: ago(2 * HOUR) },
  {
    machineId: "B",
    osPlatform: "Linux",
    avMode: "1",
    avIsSignatureUpToDate: "False" as const,
    avIsPlatformUpToDate: "Unknown" as const,
    lastSeenTime: ago(10 * DAY),
    avSignatureUpdateTime: ago(3 * DAY),
    quickScanResult: null,
    cloudProtectionState: null,
  },
  {
    machineId: "C",
    osPlatform: "macOS",
    avMode: "",
    rbacGroupId: null,
    rbacGroupName: "Loose",
    lastSeenTime: null,
    avSignatureUpdateTime: null,
    quickScanResult: "Failed",
    fullScanError: "0x80508023",
  },
  {
    machineId: "D",
    osPlatform: "Windows10",
    avMode: "3",
    rbacGroupId: 7,
    rbacGroupName: null,
    avIsEngineUpToDate: "Unknown" as const,
    lastSeenTime: ago(31 * DAY),
    avSignatureUpdateTime: null,
    avSignaturePublishTime: ago(8 * DAY),
  },
  {
    machineId: "E",
    osPlatform: "WindowsServer2022",
    avMode: "9",
    avIsPlatformUpToDate: "False" as const,
    lastSeenTime: ago(7 * DAY),
    avSignatureUpdateTime: ago(DAY),
  },
];

describe("aggregateDevices", () => {
  const rows = rowsOf(...FIVE);

  it("counts every measure of the all row", () => {
    expect(row(rows, "all", "all").measures).toEqual({
      Devices: 5,
      SignatureUpToDateTrue: 4,
      SignatureUpToDateFalse: 1,
      SignatureUpToDateUnknown: 0,
      EngineUpToDateTrue: 4,
      EngineUpToDateFalse: 0,
      EngineUpToDateUnknown: 1,
      PlatformUpToDateTrue: 3,
      PlatformUpToDateFalse: 1,
      PlatformUpToDateUnknown: 1,
      FullyUpToDate: 2,
      ModeActive: 1,
      ModePassive: 1,
      ModeDisabled: 0,
      ModeOther: 3,
      ModeEDRBlocked: 0,
      ModePassiveAudit: 0,
      Stale7d: 3,
      Stale30d: 2,
      QuickScanFailures: 1,
      FullScanFailures: 1,
    });
  });

  it("names avMode values, '' and '3' both Other, an unknown code as Unknown (code)", () => {
    expect(values(rows, "avMode")).toEqual({ Active: 1, Passive: 1, Other: 2, "Unknown (9)": 1 });
    expect(row(rows, "avMode", "Other").measures.ModeOther).toBe(2);
    expect(row(rows, "avMode", "Unknown (9)").measures.ModeOther).toBe(1);
  });

  it("labels device groups by name and id, and keeps both as properties", () => {
    expect(values(rows, "rbacGroup")).toEqual({ "Servers-EU (412)": 3, Loose: 1, "(none) (7)": 1 });
    expect(row(rows, "rbacGroup", "Servers-EU (412)")).toMatchObject({ rbacGroupId: 412, rbacGroupName: "Servers-EU" });
    expect(row(rows, "rbacGroup", "Loose")).toMatchObject({ rbacGroupId: null, rbacGroupName: "Loose" });
    expect(row(rows, "rbacGroup", "(none) (7)")).toMatchObject({ rbacGroupId: 7, rbacGroupName: null });
    expect(row(rows, "osPlatform", "Linux")).toMatchObject({ rbacGroupId: null, rbacGroupName: null });
  });

  it("buckets last seen and signature age against generatedTime, each bucket including its upper bound", () => {
    expect(values(rows, "lastSeen")).toEqual({ "<1d": 1, "1-7d": 1, "7-30d": 1, ">30d": 1, unknown: 1 });
    expect(values(rows, "signatureAge")).toEqual({ "0-1d": 1, "1-3d": 2, "7-30d": 1, unknown: 1 });
    expect(row(rows, "lastSeen", "1-7d").measures.Stale7d).toBe(0);
    expect(row(rows, "lastSeen", "7-30d").measures).toMatchObject({ Stale7d: 1, Stale30d: 0 });
    expect(row(rows, "lastSeen", "unknown").measures).toMatchObject({ Stale7d: 1, Stale30d: 1 });
  });

  it("derives osKind and writes missing values as (none)", () => {
    expect(values(rows, "osKind")).toEqual({ windows: 3, linux: 1, mac: 1 });
    expect(values(rows, "cloudProtectionState")).toEqual({ Enabled: 4, "(none)": 1 });
    expect(values(rows, "quickScanResult")).toEqual({ Completed: 3, Failed: 1, "(none)": 1 });
    expect(values(rows, "fullScanResult")).toEqual({ "(none)": 5 });
    expect(row(rows, "fullScanResult", "(none)").measures.FullScanFailures).toBe(1);
  });

  it("gives every dimension the same device total, and every row every measure", () => {
    for (const dimension of DIMENSIONS) {
      expect(rows.filter((r) => r.dimension === dimension).reduce((n, r) => n + r.measures.Devices, 0)).toBe(5);
    }
    for (const r of rows) {
      expect(Object.keys(r.measures)).toEqual([...MEASURES]);
      expect(r).toMatchObject({ snapshotTime: "2026-12-01T02:00:00.000Z", runId: "run-1", partial: false });
    }
  });

  it("orders rows by dimension, then value", () => {
    const order = rows.map((r) => DIMENSIONS.indexOf(r.dimension));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(rows.filter((r) => r.dimension === "osPlatform").map((r) => r.value)).toEqual(["Linux", "Windows10", "Windows11", "WindowsServer2022", "macOS"]);
  });

  it("writes the all row, with zeros, when there are no devices", () => {
    const empty = aggregateDevices(new DeviceSet(), { ...snapshot, partial: true });
    expect(empty).toHaveLength(1);
    expect(empty[0]).toMatchObject({ dimension: "all", value: "all", partial: true });
    expect(Object.values(empty[0]!.measures).every((n) => n === 0)).toBe(true);
  });

  it("refuses a generatedTime that is not a time", () => {
    expect(() => aggregateDevices(new DeviceSet(), { ...snapshot, generatedTime: "yesterday" })).toThrow(/generatedTime/);
  });
});

describe("buckets", () => {
  it("put exact boundaries in the lower bucket, except that the first ends before 1 day", () => {
    expect([0, DAY - 1, DAY, 3 * DAY, 3 * DAY + 1, 7 * DAY, 30 * DAY, 30 * DAY + 1].map((a) => signatureAgeBucket(g - a, g))).toEqual([0, 0, 1, 1, 2, 2, 3, 4]);
    expect([-HOUR, DAY - 1, DAY, 7 * DAY, 7 * DAY + 1, 30 * DAY, 30 * DAY + 1].map((a) => lastSeenBucket(g - a, g))).toEqual([0, 0, 1, 1, 2, 2, 3]);
    expect(signatureAgeBucket(NaN, g)).toBe(5);
    expect(lastSeenBucket(NaN, g)).toBe(4);
  });
});
