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
      // NOTE: a copy, because `value` may be a slice of a whole block of decoded lines, which it
      // would otherwise keep alive.
      const own = JSON.parse(JSON.stringify(value)) as string;
      this.values.push(own);
      this.ids.set(own, id);
    }
    return id;
  }

  value(id: number): string | null {
    return id < 0 ? null : (this.values[id] ?? null);
  }

  get size(): number {
    return this.values.length;
  }

  /** Every value, by id (what a worker thread sends with its DeviceSet's data). */
  all(): string[] {
    return this.values.slice();
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

// Packed layout, 64 bytes a device: INTS Int32 (value ids of OS_PLATFORM … FULL_RESULT, then FLAGS)
// and TIMES Float64 (REFRESHED, LAST_SEEN, SIGNATURE_TIME). Exported for the record scanner, which
// packs a device without making a DeviceHealthRecord first.
export const INTS = 10;
export const TIMES = 3;
export const OS_PLATFORM = 0;
export const AV_MODE = 1;
export const RBAC_GROUP = 2;
export const CLOUD_PROTECTION = 3;
export const SIGNATURE_VERSION = 4;
export const ENGINE_VERSION = 5;
export const PLATFORM_VERSION = 6;
export const QUICK_RESULT = 7;
export const FULL_RESULT = 8;
export const FLAGS = 9;
export const REFRESHED = 0;
export const LAST_SEEN = 1;
export const SIGNATURE_TIME = 2;
const QUICK_FAILED = 1 << 6;
const FULL_FAILED = 1 << 7;
/** A machineId of 40 lower-case hex digits (every real one) is kept as five 32-bit words. */
export const ID_WORDS = 5;
const HEX_ID_CHARS = 40;
const INITIAL_DEVICES = 1024;

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

/** 0 True, 1 False, 2 Unknown. */
export function upToDateCode(value: UpToDate): number {
  return value === "True" ? 0 : value === "False" ? 1 : 2;
}

/** The FLAGS int of a device: the three up-to-date codes and the two scan failures. */
export function packFlags(signature: number, engine: number, platform: number, quickFailed: boolean, fullFailed: boolean): number {
  return signature | (engine << 2) | (platform << 4) | (quickFailed ? QUICK_FAILED : 0) | (fullFailed ? FULL_FAILED : 0);
}

/**
 * Reads `text[start, start + 40)` as a machineId of 40 lower-case hex digits into `words`; false
 * (words undefined) for anything else. Upper-case digits are not folded: `A…` and `a…` are two
 * devices to the rest of the summary too.
 */
export function hexId(text: string, start: number, words: Int32Array): boolean {
  if (start + HEX_ID_CHARS > text.length) return false;
  for (let w = 0; w < ID_WORDS; w++) {
    let word = 0;
    for (let i = start + w * 8, end = i + 8; i < end; i++) {
      const c = text.charCodeAt(i);
      const digit = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1;
      if (digit < 0) return false;
      word = (word << 4) | digit;
    }
    words[w] = word;
  }
  return true;
}

function hashWords(words: Int32Array, at: number): number {
  let h = words[at]! ^ Math.imul(words[at + 1]!, 0x9e3779b1) ^ Math.imul(words[at + 2]! ^ words[at + 4]!, 0x85ebca6b) ^ words[at + 3]!;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  return h ^ (h >>> 15);
}

/** A DeviceSet's state as plain typed arrays and strings: what a worker thread sends (see DeviceSet.transfer). */
export interface DeviceSetData {
  size: number;
  duplicates: number;
  ints: Int32Array;
  times: Float64Array;
  words: Int32Array;
  /** Devices whose machineId is not 40 lower-case hex digits: [machineId, slot]. */
  named: [string, number][];
}

/**
 * "Each device once": the latest record of each device (by dataRefreshTimestamp, then lastSeenTime;
 * a known time beats an unknown one), kept as a 64-byte packed summary in typed arrays, keyed by
 * machineId (as five words in an open-addressing table: no string per device). The result does not
 * depend on the order records arrive in (exact ties are broken on the content), so sets filled in
 * parallel merge to the same answer.
 */
export class DeviceSet {
  readonly values: ValueTable;
  /** Records that named a device already in the set (whether or not they replaced it). */
  duplicates = 0;
  private count = 0;
  private ints = new Int32Array(INITIAL_DEVICES * INTS);
  private times = new Float64Array(INITIAL_DEVICES * TIMES);
  private words = new Int32Array(INITIAL_DEVICES * ID_WORDS);
  /** Slot + 1 of each hex-id device (0: free), at most half full. */
  private table = new Int32Array(INITIAL_DEVICES * 2);
  /** Devices whose machineId is anything else, and the other way round. */
  private readonly named = new Map<string, number>();
  private readonly nameOf = new Map<number, string>();
  private readonly scratchInts = new Int32Array(INTS);
  private readonly scratchTimes = new Float64Array(TIMES);
  private readonly scratchWords = new Int32Array(ID_WORDS);

  constructor(values: ValueTable = new ValueTable()) {
    this.values = values;
  }

  /** Devices in the set. */
  get size(): number {
    return this.count;
  }

  add(record: DeviceHealthRecord): void {
    const v = this.values;
    const ints = this.scratchInts;
    ints[OS_PLATFORM] = v.id(record.osPlatform);
    ints[AV_MODE] = v.id(record.avMode);
    ints[RBAC_GROUP] = v.id(groupKey(record.rbacGroupId, record.rbacGroupName));
    ints[CLOUD_PROTECTION] = v.id(record.cloudProtectionState);
    ints[SIGNATURE_VERSION] = v.id(record.avSignatureVersion);
    ints[ENGINE_VERSION] = v.id(record.avEngineVersion);
    ints[PLATFORM_VERSION] = v.id(record.avPlatformVersion);
    ints[QUICK_RESULT] = v.id(record.quickScanResult);
    ints[FULL_RESULT] = v.id(record.fullScanResult);
    ints[FLAGS] = packFlags(
      upToDateCode(record.avIsSignatureUpToDate),
      upToDateCode(record.avIsEngineUpToDate),
      upToDateCode(record.avIsPlatformUpToDate),
      isScanFailure(record.quickScanResult, record.quickScanError),
      isScanFailure(record.fullScanResult, record.fullScanError),
    );
    const times = this.scratchTimes;
    times[REFRESHED] = parseTime(record.dataRefreshTimestamp);
    times[LAST_SEEN] = parseTime(record.lastSeenTime);
    const updated = parseTime(record.avSignatureUpdateTime);
    times[SIGNATURE_TIME] = Number.isNaN(updated) ? parseTime(record.avSignaturePublishTime) : updated;
    this.addPacked(record.machineId, ints, times);
  }

  /**
   * Adds a device already packed (INTS ids from this set's ValueTable, TIMES), named by its machineId
   * or, for a 40-hex-digit one, by its ID_WORDS words (see hexId).
   */
  addPacked(machineId: string | Int32Array, ints: Int32Array, times: Float64Array): void {
    let slot: number | undefined;
    let words = typeof machineId === "string" ? undefined : machineId;
    if (typeof machineId === "string" && machineId.length === HEX_ID_CHARS && hexId(machineId, 0, this.scratchWords)) words = this.scratchWords;
    if (words !== undefined) {
      const at = this.probe(words);
      const entry = this.table[at]!;
      if (entry !== 0) {
        slot = entry - 1;
      } else {
        const added = this.newSlot();
        this.words.set(words, added * ID_WORDS);
        this.table[at] = added + 1;
        if (this.count * 2 > this.table.length) this.rehash(this.table.length * 2);
        this.store(added, ints, times);
        return;
      }
    } else {
      const name = machineId as string;
      slot = this.named.get(name);
      if (slot === undefined) {
        const added = this.newSlot();
        this.named.set(name, added);
        this.nameOf.set(added, name);
        this.store(added, ints, times);
        return;
      }
    }
    this.duplicates++;
    if (this.compare(ints, times, slot) > 0) this.store(slot, ints, times);
  }

  /** Adds every device of `other` (built from other files) to this set, keeping the latest of each. */
  merge(other: DeviceSet): void {
    this.mergeData(other.data(), other.values);
  }

  /**
   * The same from a set's data (as a worker thread sends it, see DeviceSet.data) whose value ids
   * are those of `values` (a table, or a table's values as ValueTable.all gives them).
   */
  mergeData(other: DeviceSetData, values: ValueTable | readonly (string | null)[]): void {
    this.duplicates += other.duplicates;
    // Ids of the other table → ids of this one, looked up once each (-2: not yet).
    const remap = values === this.values ? undefined : new Int32Array(values instanceof ValueTable ? values.size : values.length).fill(-2);
    const ints = this.scratchInts;
    const times = this.scratchTimes;
    const names = new Map(other.named.map(([name, slot]) => [slot, name] as const));
    for (let slot = 0; slot < other.size; slot++) {
      for (let i = 0; i < INTS; i++) {
        let value = other.ints[slot * INTS + i]!;
        if (remap !== undefined && i !== FLAGS && value >= 0) {
          let mapped = remap[value]!;
          if (mapped === -2) {
            mapped = this.values.id(values instanceof ValueTable ? values.value(value) : (values[value] ?? null));
            remap[value] = mapped;
          }
          value = mapped;
        }
        ints[i] = value;
      }
      for (let i = 0; i < TIMES; i++) times[i] = other.times[slot * TIMES + i]!;
      const name = names.get(slot);
      this.addPacked(name ?? other.words.subarray(slot * ID_WORDS, (slot + 1) * ID_WORDS), ints, times);
    }
  }

  /** The set's state, sized to its devices (copies: safe to transfer to another thread). */
  data(): DeviceSetData {
    return {
      size: this.count,
      duplicates: this.duplicates,
      ints: this.ints.slice(0, this.count * INTS),
      times: this.times.slice(0, this.count * TIMES),
      words: this.words.slice(0, this.count * ID_WORDS),
      named: [...this.named],
    };
  }

  /** The summary kept for a device, or undefined when the set has not seen it. */
  get(machineId: string): DeviceSummary | undefined {
    let slot = this.named.get(machineId);
    if (slot === undefined && machineId.length === HEX_ID_CHARS && hexId(machineId, 0, this.scratchWords)) {
      const entry = this.table[this.probe(this.scratchWords)]!;
      if (entry !== 0) slot = entry - 1;
    }
    return slot === undefined ? undefined : this.read(slot, blankSummary());
  }

  /** Visits every device once. The summary object is reused between calls: copy what you keep. */
  forEach(visit: (device: DeviceSummary) => void): void {
    const summary = blankSummary();
    for (let slot = 0; slot < this.count; slot++) visit(this.read(slot, summary));
  }

  /** Bytes of typed arrays held (excluding the map of non-hex ids and the value table). */
  get packedBytes(): number {
    return this.ints.byteLength + this.times.byteLength + this.words.byteLength + this.table.byteLength;
  }

  /** The table index that holds these words, or the free index where they would go. */
  private probe(words: Int32Array): number {
    const table = this.table;
    const mask = table.length - 1;
    const mine = this.words;
    const w0 = words[0]!;
    for (let i = hashWords(words, 0) & mask; ; i = (i + 1) & mask) {
      const entry = table[i]!;
      if (entry === 0) return i;
      const s = (entry - 1) * ID_WORDS;
      if (mine[s] === w0 && mine[s + 1] === words[1] && mine[s + 2] === words[2] && mine[s + 3] === words[3] && mine[s + 4] === words[4]) return i;
    }
  }

  private rehash(size: number): void {
    const table = new Int32Array(size);
    const mask = size - 1;
    const words = this.words;
    for (let slot = 0; slot < this.count; slot++) {
      if (this.nameOf.size > 0 && this.nameOf.has(slot)) continue;
      let i = hashWords(words, slot * ID_WORDS) & mask;
      while (table[i] !== 0) i = (i + 1) & mask;
      table[i] = slot + 1;
    }
    this.table = table;
  }

  private store(slot: number, ints: Int32Array, times: Float64Array): void {
    this.ints.set(ints, slot * INTS);
    this.times.set(times, slot * TIMES);
  }

  private newSlot(): number {
    const slot = this.count++;
    if (this.count * INTS > this.ints.length) {
      const capacity = this.count * 2;
      this.ints = grown(this.ints, capacity * INTS);
      this.times = grown(this.times, capacity * TIMES);
      this.words = grown(this.words, capacity * ID_WORDS);
    }
    return slot;
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
    return orderable(times[SIGNATURE_TIME]!) - orderable(this.times[slot * TIMES + SIGNATURE_TIME]!);
  }

  private read(slot: number, out: DeviceSummary): DeviceSummary {
    const i = slot * INTS;
    const t = slot * TIMES;
    const ints = this.ints;
    const flags = ints[i + FLAGS]!;
    out.osPlatform = ints[i + OS_PLATFORM]!;
    out.avMode = ints[i + AV_MODE]!;
    out.rbacGroup = ints[i + RBAC_GROUP]!;
    out.cloudProtectionState = ints[i + CLOUD_PROTECTION]!;
    out.avSignatureVersion = ints[i + SIGNATURE_VERSION]!;
    out.avEngineVersion = ints[i + ENGINE_VERSION]!;
    out.avPlatformVersion = ints[i + PLATFORM_VERSION]!;
    out.quickScanResult = ints[i + QUICK_RESULT]!;
    out.fullScanResult = ints[i + FULL_RESULT]!;
    out.signatureUpToDate = flags & 3;
    out.engineUpToDate = (flags >> 2) & 3;
    out.platformUpToDate = (flags >> 4) & 3;
    out.quickScanFailed = (flags & QUICK_FAILED) !== 0;
    out.fullScanFailed = (flags & FULL_FAILED) !== 0;
    out.dataRefreshTime = this.times[t + REFRESHED]!;
    out.lastSeenTime = this.times[t + LAST_SEEN]!;
    out.signatureTime = this.times[t + SIGNATURE_TIME]!;
    return out;
  }
}

function grown<T extends Int32Array | Float64Array>(array: T, length: number): T {
  const next = new (array.constructor as new (length: number) => T)(length);
  next.set(array);
  return next;
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
