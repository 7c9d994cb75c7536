import type { DeviceHealthRecord } from "../../shared/health/record.js";

/*
 * An independent recount of DeviceHealthDaily from canonical records (the simulator's truth), written
 * plainly and on purpose without any of shared/health's code: the chaos run and the golden tests
 * compare the pipeline's rows against it. The rules are the design's ("Data layout") and the
 * reference facts', restated.
 */

/** One expected row: its measures by column name. */
export type ExpectedMeasures = Record<string, number>;

/** `<Dimension>|<Value>` → measures. */
export type ExpectedRows = Map<string, ExpectedMeasures>;

const DAY = 86_400_000;
const MODE_NAMES: Record<string, string> = { "": "Other", "0": "Active", "1": "Passive", "2": "Disabled", "3": "Other", "4": "EDRBlocked", "5": "PassiveAudit" };

/** A time as UTC epoch ms: a time with no offset is UTC; NaN when missing. */
function time(value: string | null): number {
  if (value === null) return NaN;
  return Date.parse(/(Z|[+-]\d\d:?\d\d)$/i.test(value) || !value.includes("T") ? value : `${value}Z`);
}

/** Of each device's records, the latest (by dataRefreshTimestamp, then lastSeenTime; a known time beats none). */
export function latestPerDevice(records: Iterable<DeviceHealthRecord>): { devices: DeviceHealthRecord[]; records: number; duplicates: number } {
  const kept = new Map<string, DeviceHealthRecord>();
  let count = 0;
  let duplicates = 0;
  const key = (t: number) => (Number.isNaN(t) ? -Infinity : t);
  for (const record of records) {
    count++;
    const other = kept.get(record.machineId);
    if (other === undefined) {
      kept.set(record.machineId, record);
      continue;
    }
    duplicates++;
    const byRefresh = key(time(record.dataRefreshTimestamp)) - key(time(other.dataRefreshTimestamp));
    const bySeen = key(time(record.lastSeenTime)) - key(time(other.lastSeenTime));
    if (byRefresh > 0 || (byRefresh === 0 && bySeen > 0)) kept.set(record.machineId, record);
  }
  return { devices: [...kept.values()], records: count, duplicates };
}

function failed(result: string | null, error: string | null): boolean {
  if (result !== null && result.toLowerCase() === "failed") return true;
  return error !== null && !/^(0x)?0+$/i.test(error);
}

function lastSeenBucket(age: number): string {
  if (Number.isNaN(age)) return "unknown";
  if (age < DAY) return "<1d";
  if (age <= 7 * DAY) return "1-7d";
  if (age <= 30 * DAY) return "7-30d";
  return ">30d";
}

function signatureBucket(age: number): string {
  if (Number.isNaN(age)) return "unknown";
  if (age < DAY) return "0-1d";
  if (age <= 3 * DAY) return "1-3d";
  if (age <= 7 * DAY) return "3-7d";
  if (age <= 30 * DAY) return "7-30d";
  return ">30d";
}

/** The rows the day should hold for these devices (each once), ages measured from generatedTime. */
export function expectedRows(devices: readonly DeviceHealthRecord[], generatedTime: string): ExpectedRows {
  const generated = Date.parse(generatedTime);
  const rows: ExpectedRows = new Map();
  const add = (dimension: string, value: string | null, measures: string[]) => {
    const name = `${dimension}|${value ?? "(none)"}`;
    let row = rows.get(name);
    if (row === undefined) rows.set(name, (row = {}));
    for (const m of measures) row[m] = (row[m] ?? 0) + 1;
  };
  rows.set("all|all", { Devices: 0 });
  for (const d of devices) {
    const m = ["Devices"];
    const states = [["Signature", d.avIsSignatureUpToDate], ["Engine", d.avIsEngineUpToDate], ["Platform", d.avIsPlatformUpToDate]] as const;
    for (const [what, state] of states) m.push(`${what}UpToDate${state}`);
    if (states.every(([, state]) => state === "True")) m.push("FullyUpToDate");
    const mode = MODE_NAMES[d.avMode];
    m.push(mode === undefined ? "ModeOther" : `Mode${mode}`);
    const seen = lastSeenBucket(generated - time(d.lastSeenTime));
    if (seen === "7-30d" || seen === ">30d" || seen === "unknown") m.push("Stale7d");
    if (seen === ">30d" || seen === "unknown") m.push("Stale30d");
    if (failed(d.quickScanResult, d.quickScanError)) m.push("QuickScanFailures");
    if (failed(d.fullScanResult, d.fullScanError)) m.push("FullScanFailures");

    const signatureTime = Number.isNaN(time(d.avSignatureUpdateTime)) ? time(d.avSignaturePublishTime) : time(d.avSignatureUpdateTime);
    add("all", "all", m);
    add("osPlatform", d.osPlatform, m);
    add("osKind", d.osKind, m);
    add("avMode", mode ?? `Unknown (${d.avMode})`, m);
    add("rbacGroup", d.rbacGroupId === null ? d.rbacGroupName : `${d.rbacGroupName ?? "(none)"} (${d.rbacGroupId})`, m);
    add("cloudProtectionState", d.cloudProtectionState, m);
    add("signatureAge", signatureBucket(generated - signatureTime), m);
    add("lastSeen", seen, m);
    add("avSignatureVersion", d.avSignatureVersion, m);
    add("avEngineVersion", d.avEngineVersion, m);
    add("avPlatformVersion", d.avPlatformVersion, m);
    add("quickScanResult", d.quickScanResult, m);
    add("fullScanResult", d.fullScanResult, m);
  }
  return rows;
}

/**
 * The differences between expected rows and rows read back (`<Dimension>|<Value>` → measures, from
 * the table's Dimension and Value properties): a missing or extra row, or a measure that differs.
 * A measure absent from the expectation is expected to be 0.
 */
export function compareRows(expected: ExpectedRows, actual: ExpectedRows, measures: readonly string[]): string[] {
  const problems: string[] = [];
  for (const name of expected.keys()) if (!actual.has(name)) problems.push(`row ${name} is missing`);
  for (const [name, row] of actual) {
    const want = expected.get(name);
    if (want === undefined) {
      problems.push(`row ${name} should not be there`);
      continue;
    }
    for (const m of measures) {
      if ((row[m] ?? 0) !== (want[m] ?? 0)) problems.push(`row ${name}: ${m} is ${row[m] ?? 0}, a recount gives ${want[m] ?? 0}`);
    }
  }
  return problems;
}
