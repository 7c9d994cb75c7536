import type { DeviceHealthRecord, UpToDate } from "./record.js";

/**
 * Strings interned to small ints, so that a device's summary holds ids rather than strings. One table
 * is shared by the DeviceSets of a snapshot; sets built on different tables still merge (ids remapped).
 */
export class ValueTable {
  private readonly ids = new Map<string, number>();
  private readonly values: string[] = [];

  /** The id of a string; -1 stands for null. */
  id(value: string | null): number {
    if (value === null) return -1;
    let id = this.ids.get(value);
    if (id === undefined) {
      id = this.values.length;
      this.values.push(value);
      this.ids.set(value, id);
    }
    return id;
  }

  value(id: number): string | null {
    return id < 0 ? null : (this.values[id] ?? null);
  }

  get size(): number {
    return this.values.length;
  }
}

/**
 * What the aggregation needs of one device, and nothing more: value ids (see ValueTable) for the
 * dimensions, the three up-to-date states, scan failures, and three times in epoch ms (NaN when
 * unknown). `rbacGroup` is the id of a group key (see groupKey / parseGroupKey).
 */
export interface DeviceSummary {
  osPlatform: number;
  avMode: number;
  rbacGroup: number;
  cloudProtectionState: number;
  avSignatureVersion: number;
  avEngineVersion: number;
  avPlatformVersion: number;
  quickScanResult: number;
  fullScanResult: number;
  /** 0 True, 1 False, 2 Unknown. */
  signatureUpToDate: number;
  engineUpToDate: number;
  platformUpToDate: number;
  quickScanFailed: boolean;
  fullScanFailed: boolean;
  dataRefreshTime: number;
  lastSeenTime: number;
  /** avSignatureUpdateTime, or avSignaturePublishTime when the device gave no update time. */
  signatureTime: number;
}

// Packed layout: 10 Int32 (40 bytes) + 3 Float64 (24 bytes) = 64 bytes per device.
const INTS = 10;
const TIMES = 3;
const FLAGS = 9;
const QUICK_FAILED = 1 << 6;
const FULL_FAILED = 1 << 7;

/**
 * A scan failed when its result says "Failed" (any case) or it carries an error code other than a
 * zero code ("0", "0x0", "0x00000000"); an empty result with no error is not a failure.
 */
export function isScanFailure(result: string | null, error: string | null): boolean {
  if (result !== null && result.toLowerCase() === "failed") return true;
  return error !== null && !/^(0x)?0+$/i.test(error);
}

/** Epoch ms of an ISO 8601 time; a time without an offset is read as UTC. NaN when unknown. */
export function parseTime(value: string | null): number {
  if (value === null) return NaN;
  const ms = Date.parse(value);
  if (Number.isNaN(ms) || HAS_OFFSET.test(value) || !value.includes("T")) return ms;
  return Date.parse(`${value}Z`);
}
const HAS_OFFSET = /(Z|[+-]\d\d:?\d\d)$/i;

/** The interned key of a device group: id and name, either possibly null. */
export function groupKey(id: number | null, name: string | null): string {
  return `${id ?? ""}|${name === null ? "" : `=${name}`}`;
}

export function parseGroupKey(key: string): { id: number | null; name: string | null } {
  const bar = key.indexOf("|");
  const id = key.slice(0, bar);
  const name = key.slice(bar + 1);
  return { id: id === "" ? null : Number(id), name: name === "" ? null : name.slice(1) };
}

function upToDateCode(value: UpToDate): number {
  return value === "True" ? 0 : value === "False" ? 1 : 2;
}

/**
 * "Each device once": the latest record of each device (by dataRefreshTimestamp, then lastSeenTime;
 * a known time beats an unknown one), kept as a 64-byte packed summary in typed arrays, keyed by
 * machineId. The result does not depend on the order records arrive in (exact ties are broken on
 * the content), so sets filled in parallel merge to the same answer.
 */
export class DeviceSet {
  readonly values: ValueTable;
  /** Records that named a device already in the set (whether or not they replaced it). */
  duplicates = 0;
  private readonly slots = new Map<string, number>();
  private ints = new Int32Array(1024 * INTS);
  private times = new Float64Array(1024 * TIMES);
  private readonly scratchInts = new Int32Array(INTS);
  private readonly scratchTimes = new Float64Array(TIMES);

  constructor(values: ValueTable = new ValueTable()) {
    this.values = values;
  }

  /** Devices in the set. */
  get size(): number {
    return this.slots.size;
  }

  add(record: DeviceHealthRecord): void {
    const v = this.values;
    const ints = this.scratchInts;
    ints[0] = v.id(record.osPlatform);
    ints[1] = v.id(record.avMode);
    ints[2] = v.id(groupKey(record.rbacGroupId, record.rbacGroupName));
    ints[3] = v.id(record.cloudProtectionState);
    ints[4] = v.id(record.avSignatureVersion);
    ints[5] = v.id(record.avEngineVersion);
    ints[6] = v.id(record.avPlatformVersion);
    ints[7] = v.id(record.quickScanResult);
    ints[8] = v.id(record.fullScanResult);
    ints[FLAGS] =
      upToDateCode(record.avIsSignatureUpToDate) |
      (upToDateCode(record.avIsEngineUpToDate) << 2) |
      (upToDateCode(record.avIsPlatformUpToDate) << 4) |
      (isScanFailure(record.quickScanResult, record.quickScanError) ? QUICK_FAILED : 0) |
      (isScanFailure(record.fullScanResult, record.fullScanError) ? FULL_FAILED : 0);
    const times = this.scratchTimes;
    times[0] = parseTime(record.dataRefreshTimestamp);
    times[1] = parseTime(record.lastSeenTime);
    const updated = parseTime(record.avSignatureUpdateTime);
    times[2] = Number.isNaN(updated) ? parseTime(record.avSignaturePublishTime) : updated;
    this.offer(record.machineId, ints, times);
  }

  /** Adds every device of `other` (built from other files) to this set, keeping the latest of each. */
  merge(other: DeviceSet): void {
    this.duplicates += other.duplicates;
    const remap = other.values === this.values ? undefined : new Map<number, number>();
    const ints = this.scratchInts;
    const times = this.scratchTimes;
    for (const [machineId, slot] of other.slots) {
      for (let i = 0; i < INTS; i++) {
        let value = other.ints[slot * INTS + i]!;
        if (remap !== undefined && i !== FLAGS && value >= 0) {
          let mapped = remap.get(value);
          if (mapped === undefined) {
            mapped = this.values.id(other.values.value(value));
            remap.set(value, mapped);
          }
          value = mapped;
        }
        ints[i] = value;
      }
      for (let i = 0; i < TIMES; i++) times[i] = other.times[slot * TIMES + i]!;
      this.offer(machineId, ints, times);
    }
  }

  /** The summary kept for a device, or undefined when the set has not seen it. */
  get(machineId: string): DeviceSummary | undefined {
    const slot = this.slots.get(machineId);
    return slot === undefined ? undefined : this.read(slot, blankSummary());
  }

  /** Visits every device once. The summary object is reused between calls: copy what you keep. */
  forEach(visit: (device: DeviceSummary) => void): void {
    const summary = blankSummary();
    for (let slot = 0; slot < this.slots.size; slot++) visit(this.read(slot, summary));
  }

  /** Bytes of packed state held (excluding the id map and the value table). */
  get packedBytes(): number {
    return this.ints.byteLength + this.times.byteLength;
  }

  private offer(machineId: string, ints: Int32Array, times: Float64Array): void {
    let slot = this.slots.get(machineId);
    if (slot === undefined) {
      slot = this.slots.size;
      this.grow(slot + 1);
      this.slots.set(machineId, slot);
    } else {
      this.duplicates++;
      if (this.compare(ints, times, slot) <= 0) return;
    }
    this.ints.set(ints, slot * INTS);
    this.times.set(times, slot * TIMES);
  }

  /** > 0 when the candidate is later than the device in `slot`. */
  private compare(ints: Int32Array, times: Float64Array, slot: number): number {
    for (let i = 0; i < 2; i++) {
      const d = orderable(times[i]!) - orderable(this.times[slot * TIMES + i]!);
      if (d !== 0) return d;
    }
    // An exact tie: decide on the content, never on arrival order.
    for (let i = 0; i < INTS; i++) {
      const a = ints[i]!;
      const b = this.ints[slot * INTS + i]!;
      if (a === b) continue;
      if (i === FLAGS) return a - b;
      const textA = this.values.value(a);
      const textB = this.values.value(b);
      if (textA === null) return -1;
      if (textB === null) return 1;
      return textA < textB ? -1 : 1;
    }
    return orderable(times[2]!) - orderable(this.times[slot * TIMES + 2]!);
  }

  private grow(devices: number): void {
    if (devices * INTS <= this.ints.length) return;
    const capacity = Math.max(devices, (this.ints.length / INTS) * 2);
    const ints = new Int32Array(capacity * INTS);
    ints.set(this.ints);
    this.ints = ints;
    const times = new Float64Array(capacity * TIMES);
    times.set(this.times);
    this.times = times;
  }

  private read(slot: number, out: DeviceSummary): DeviceSummary {
    const i = slot * INTS;
    const t = slot * TIMES;
    const ints = this.ints;
    const flags = ints[i + FLAGS]!;
    out.osPlatform = ints[i]!;
    out.avMode = ints[i + 1]!;
    out.rbacGroup = ints[i + 2]!;
    out.cloudProtectionState = ints[i + 3]!;
    out.avSignatureVersion = ints[i + 4]!;
    out.avEngineVersion = ints[i + 5]!;
    out.avPlatformVersion = ints[i + 6]!;
    out.quickScanResult = ints[i + 7]!;
    out.fullScanResult = ints[i + 8]!;
    out.signatureUpToDate = flags & 3;
    out.engineUpToDate = (flags >> 2) & 3;
    out.platformUpToDate = (flags >> 4) & 3;
    out.quickScanFailed = (flags & QUICK_FAILED) !== 0;
    out.fullScanFailed = (flags & FULL_FAILED) !== 0;
    out.dataRefreshTime = this.times[t]!;
    out.lastSeenTime = this.times[t + 1]!;
    out.signatureTime = this.times[t + 2]!;
    return out;
  }
}

function orderable(ms: number): number {
  return Number.isNaN(ms) ? -Number.MAX_VALUE : ms;
}

function blankSummary(): DeviceSummary {
  return {
    osPlatform: -1,
    avMode: -1,
    rbacGroup: -1,
    cloudProtectionState: -1,
    avSignatureVersion: -1,
    avEngineVersion: -1,
    avPlatformVersion: -1,
    quickScanResult: -1,
    fullScanResult: -1,
    signatureUpToDate: 2,
    engineUpToDate: 2,
    platformUpToDate: 2,
    quickScanFailed: false,
    fullScanFailed: false,
    dataRefreshTime: NaN,
    lastSeenTime: NaN,
    signatureTime: NaN,
  };
}
