import { type DeviceSet, parseGroupKey, parseTime } from "./devices.js";
import { osKindOf } from "./normalise.js";
import { AV_MODES } from "./record.js";

/** The dimensions of DeviceHealthDaily, in the order rows are produced. */
export const DIMENSIONS = [
  "all",
  "osPlatform",
  "osKind",
  "avMode",
  "rbacGroup",
  "cloudProtectionState",
  "signatureAge",
  "lastSeen",
  "avSignatureVersion",
  "avEngineVersion",
  "avPlatformVersion",
  "quickScanResult",
  "fullScanResult",
] as const;
export type Dimension = (typeof DIMENSIONS)[number];

/** The measure columns, the same on every row. Each is a count of devices. */
export const MEASURES = [
  "Devices",
  "SignatureUpToDateTrue",
  "SignatureUpToDateFalse",
  "SignatureUpToDateUnknown",
  "EngineUpToDateTrue",
  "EngineUpToDateFalse",
  "EngineUpToDateUnknown",
  "PlatformUpToDateTrue",
  "PlatformUpToDateFalse",
  "PlatformUpToDateUnknown",
  "FullyUpToDate",
  "ModeActive",
  "ModePassive",
  "ModeDisabled",
  "ModeOther",
  "ModeEDRBlocked",
  "ModePassiveAudit",
  "Stale7d",
  "Stale30d",
  "QuickScanFailures",
  "FullScanFailures",
] as const;
export type Measure = (typeof MEASURES)[number];
export type Measures = Record<Measure, number>;

/** The value of the `all` dimension's one row. */
export const ALL = "all";
/** The value of a dimension whose field is missing, null, empty or a `-` placeholder. */
export const NONE = "(none)";
/** Buckets of signature age, generatedTime minus avSignatureUpdateTime (or publish time). */
export const SIGNATURE_AGE_BUCKETS = ["0-1d", "1-3d", "3-7d", "7-30d", ">30d", "unknown"] as const;
/** Buckets of generatedTime minus lastSeenTime. */
export const LAST_SEEN_BUCKETS = ["<1d", "1-7d", "7-30d", ">30d", "unknown"] as const;

export interface SnapshotInfo {
  /** The snapshot's generatedTime (ISO 8601): every age is measured from it, not from the clock. */
  generatedTime: string;
  runId: string;
  /** Some files of the snapshot could not be read: the counts are short. */
  partial: boolean;
}

/** One row of DeviceHealthDaily, before it becomes an entity. */
export interface SummaryRow {
  dimension: Dimension;
  value: string;
  /** Only on rbacGroup rows (null elsewhere, or when the group had none). */
  rbacGroupId: number | null;
  rbacGroupName: string | null;
  measures: Measures;
  snapshotTime: string;
  runId: string;
  partial: boolean;
}

const DAY = 86_400_000;

/** Index into SIGNATURE_AGE_BUCKETS. Each bucket includes its upper bound; the first ends before 1 day. */
export function signatureAgeBucket(signatureTime: number, generatedTime: number): number {
  if (Number.isNaN(signatureTime)) return 5;
  const age = generatedTime - signatureTime;
  return age < DAY ? 0 : age <= 3 * DAY ? 1 : age <= 7 * DAY ? 2 : age <= 30 * DAY ? 3 : 4;
}

/** Index into LAST_SEEN_BUCKETS, same bounds rule; "7-30d", ">30d" and "unknown" are Stale7d. */
export function lastSeenBucket(lastSeenTime: number, generatedTime: number): number {
  if (Number.isNaN(lastSeenTime)) return 4;
  const age = generatedTime - lastSeenTime;
  return age < DAY ? 0 : age <= 7 * DAY ? 1 : age <= 30 * DAY ? 2 : 3;
}

/** The avMode dimension's value: the mode's name, or `Unknown (<code>)` for a code outside AV_MODES. */
export function avModeName(code: string): string {
  return AV_MODES[code] ?? `Unknown (${code})`;
}

/** The rbacGroup dimension's value: `Name (id)`; `Name` without an id; `(none) (id)` without a name. */
export function groupLabel(id: number | null, name: string | null): string {
  if (id === null) return name ?? NONE;
  return `${name ?? NONE} (${id})`;
}

const M = Object.fromEntries(MEASURES.map((m, i) => [m, i])) as Record<Measure, number>;
const MODE_MEASURE: Readonly<Record<string, number>> = {
  Active: M.ModeActive,
  Passive: M.ModePassive,
  Disabled: M.ModeDisabled,
  EDRBlocked: M.ModeEDRBlocked,
  PassiveAudit: M.ModePassiveAudit,
};
const OS_KINDS = ["windows", "linux", "mac", "other"] as const;
/** The mode measures, in the order of a device's mode index. */
const MODES = [M.ModeActive, M.ModePassive, M.ModeDisabled, M.ModeOther, M.ModeEDRBlocked, M.ModePassiveAudit];

// Every measure of a device follows from three small codes: its three up-to-date states (27 codes), its
// mode and staleness (6 × 3), its two scan failures (4). A dimension value counts its devices per code
// (three increments a device, where counting measures took up to ten), and its measures are summed
// from those counts once (CODE_MEASURES: the measures a device with each code counts in).
const STATES = 27;
const MODE_STALENESS = STATES + MODES.length * 3;
const CODES = MODE_STALENESS + 4;
const CODE_MEASURES: number[][] = Array.from({ length: CODES }, (_, code) => {
  if (code < STATES) {
    const [signature, engine, platform] = [Math.floor(code / 9), Math.floor(code / 3) % 3, code % 3];
    const measures = [M.Devices, M.SignatureUpToDateTrue + signature, M.EngineUpToDateTrue + engine, M.PlatformUpToDateTrue + platform];
    return code === 0 ? [...measures, M.FullyUpToDate] : measures;
  }
  if (code < MODE_STALENESS) {
    const staleness = (code - STATES) % 3;
    return [MODES[Math.floor((code - STATES) / 3)]!, ...(staleness >= 1 ? [M.Stale7d] : []), ...(staleness === 2 ? [M.Stale30d] : [])];
  }
  const failures = code - MODE_STALENESS;
  return [...(failures & 2 ? [M.QuickScanFailures] : []), ...(failures & 1 ? [M.FullScanFailures] : [])];
});
const D = Object.fromEntries(DIMENSIONS.map((d, i) => [d, i])) as Record<Dimension, number>;

/**
 * The day's rows: one per (dimension, value) present, plus the `all` row always (zeros when there are
 * no devices). Rows with the same value label are one row (avMode "" and "3" are both "Other").
 */
export function aggregateDevices(devices: DeviceSet, snapshot: SnapshotInfo): SummaryRow[] {
  const generated = parseTime(snapshot.generatedTime);
  if (Number.isNaN(generated)) throw new Error(`generatedTime "${snapshot.generatedTime}" is not an ISO 8601 time.`);
  const values = devices.values;
  // Per dimension, the counts per code (see CODES) of each small key: value id + 1 (0 = null), or a bucket index.
  const accumulators: Array<Array<Int32Array | undefined>> = DIMENSIONS.map(() => []);
  const osKindKey = new Map<number, number>();
  const modeIndex = new Map<number, number>();
  const keys = new Int32Array(DIMENSIONS.length);
  let state = 0;
  let modeStaleness = 0;
  let failures = 0;

  const count = (key: number, dimension: number): void => {
    const byKey = accumulators[dimension]!;
    let acc = byKey[key];
    if (acc === undefined) byKey[key] = acc = new Int32Array(CODES);
    acc[state]!++;
    acc[modeStaleness]!++;
    acc[failures]!++;
  };

  accumulators[D.all]![0] = new Int32Array(CODES);
  devices.forEach((d) => {
    state = d.signatureUpToDate * 9 + d.engineUpToDate * 3 + d.platformUpToDate;
    let mode = modeIndex.get(d.avMode);
    if (mode === undefined) {
      mode = MODES.indexOf(MODE_MEASURE[AV_MODES[values.value(d.avMode) ?? ""] ?? ""] ?? M.ModeOther);
      modeIndex.set(d.avMode, mode);
    }
    const seen = lastSeenBucket(d.lastSeenTime, generated);
    // Buckets 2.. are "7-30d", ">30d", "unknown" (Stale7d); 3.. are ">30d", "unknown" (Stale30d too).
    modeStaleness = STATES + mode * 3 + (seen >= 3 ? 2 : seen === 2 ? 1 : 0);
    failures = MODE_STALENESS + (d.quickScanFailed ? 2 : 0) + (d.fullScanFailed ? 1 : 0);

    let kind = osKindKey.get(d.osPlatform);
    if (kind === undefined) {
      kind = OS_KINDS.indexOf(osKindOf(values.value(d.osPlatform)));
      osKindKey.set(d.osPlatform, kind);
    }
    keys[D.all] = 0;
    keys[D.osPlatform] = d.osPlatform + 1;
    keys[D.osKind] = kind;
    keys[D.avMode] = d.avMode + 1;
    keys[D.rbacGroup] = d.rbacGroup + 1;
    keys[D.cloudProtectionState] = d.cloudProtectionState + 1;
    keys[D.signatureAge] = signatureAgeBucket(d.signatureTime, generated);
    keys[D.lastSeen] = seen;
    keys[D.avSignatureVersion] = d.avSignatureVersion + 1;
    keys[D.avEngineVersion] = d.avEngineVersion + 1;
    keys[D.avPlatformVersion] = d.avPlatformVersion + 1;
    keys[D.quickScanResult] = d.quickScanResult + 1;
    keys[D.fullScanResult] = d.fullScanResult + 1;
    for (let dim = 0; dim < DIMENSIONS.length; dim++) count(keys[dim]!, dim);
  });

  const text = (key: number): string => values.value(key - 1) ?? NONE;
  const label: Record<Dimension, (key: number) => string> = {
    all: () => ALL,
    osPlatform: text,
    osKind: (key) => OS_KINDS[key] ?? "other",
    avMode: (key) => avModeName(values.value(key - 1) ?? ""),
    rbacGroup: (key) => {
      const group = parseGroupKey(values.value(key - 1) ?? "|");
      return groupLabel(group.id, group.name);
    },
    cloudProtectionState: text,
    signatureAge: (key) => SIGNATURE_AGE_BUCKETS[key] ?? "unknown",
    lastSeen: (key) => LAST_SEEN_BUCKETS[key] ?? "unknown",
    avSignatureVersion: text,
    avEngineVersion: text,
    avPlatformVersion: text,
    quickScanResult: text,
    fullScanResult: text,
  };

  const rows: SummaryRow[] = [];
  DIMENSIONS.forEach((dimension, dim) => {
    const byLabel = new Map<string, SummaryRow>();
    accumulators[dim]!.forEach((acc, key) => {
      if (acc === undefined) return;
      const value = label[dimension](key);
      let row = byLabel.get(value);
      if (row === undefined) {
        const group = dimension === "rbacGroup" ? parseGroupKey(values.value(key - 1) ?? "|") : { id: null, name: null };
        row = {
          dimension,
          value,
          rbacGroupId: group.id,
          rbacGroupName: group.name,
          measures: Object.fromEntries(MEASURES.map((m) => [m, 0])) as Measures,
          snapshotTime: new Date(generated).toISOString(),
          runId: snapshot.runId,
          partial: snapshot.partial,
        };
        byLabel.set(value, row);
      }
      acc.forEach((devices, code) => {
        for (const i of CODE_MEASURES[code]!) row.measures[MEASURES[i]!] += devices;
      });
    });
    rows.push(...[...byLabel.values()].sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0)));
  });
  return rows;
}
