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
      // NOTE: a copy, because V8 may hold `value` as a slice of the whole decoded line it was parsed
      // from, and a slice keeps its parent string alive.
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

// Packed layout: INTS ints (value ids of OS_PLATFORM … FULL_RESULT, then FLAGS) and TIMES Float64
// (REFRESHED, LAST_SEEN, SIGNATURE_TIME). Exported for the record scanner, which packs a device
// without making a DeviceHealthRecord first. A DeviceSet keeps the ints as Uint16 (see WIDE).
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
 * Reads `bytes[start, start + 40)` as a machineId of 40 lower-case hex digits into `words`; false
 * (words undefined) for anything else. Upper-case digits are not folded: `A…` and `a…` are two
 * devices to the rest of the summary too.
 */
export function hexId(bytes: Uint8Array, start: number, words: Int32Array): boolean {
  if (start + HEX_ID_CHARS > bytes.length) return false;
  for (let w = 0; w < ID_WORDS; w++) {
    let word = 0;
    for (let i = start + w * 8, end = i + 8; i < end; i++) {
      const digit = LOWER_HEX[bytes[i]!]!;
      if (digit < 0) return false;
      word = (word << 4) | digit;
    }
    words[w] = word;
  }
  return true;
}
const LOWER_HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 16; c++) LOWER_HEX["0123456789abcdef".charCodeAt(c)] = c;

/** hexId of a string: its characters as bytes (any above 0xFF as 0, which is no digit). */
function hexIdOf(text: string, bytes: Uint8Array, words: Int32Array): boolean {
  if (text.length !== HEX_ID_CHARS) return false;
  for (let i = 0; i < HEX_ID_CHARS; i++) {
    const c = text.charCodeAt(i);
    bytes[i] = c > 0xff ? 0 : c;
  }
  return hexId(bytes, 0, words);
}

function hashWords(words: Int32Array, at: number): number {
  let h = words[at]! ^ Math.imul(words[at + 1]!, 0x9e3779b1) ^ Math.imul(words[at + 2]! ^ words[at + 4]!, 0x85ebca6b) ^ words[at + 3]!;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  return h ^ (h >>> 15);
}

/** A DeviceSet's state as plain typed arrays and strings (see DeviceSet.data). */
export interface DeviceSetData {
  size: number;
  duplicates: number;
  ints: Int32Array;
  times: Float64Array;
  words: Int32Array;
  /** Devices whose machineId is not 40 lower-case hex digits: [machineId, slot]. */
  named: [string, number][];
}

/** Devices per page of a DeviceSet's storage. */
const PAGE_BITS = 14;
const PAGE = 1 << PAGE_BITS;
export const DEVICES_PER_PAGE = PAGE;
const PAGE_MASK = PAGE - 1;
const INITIAL_TABLE = 1 << 12;
/** A stored int that does not fit in a Uint16 (a value id of 65,534 or more): the set keeps it aside. */
const WIDE = 0xffff;
/**
 * A table entry is slot + 1 in its low 24 bits and the top 8 bits of the device's hash as a tag, so
 * that a probe passes other devices without reading their words.
 */
const SLOT_BITS = 0xffffff;
const MAX_DEVICES = SLOT_BITS - 1;

function tagOf(hash: number): number {
  return hash & ~SLOT_BITS;
}

/**
 * What a DeviceSet was at its checkpoint: its size and duplicates, and the devices from before it
 * that a record has touched since (their summaries as they were, kept on the first touch).
 */
interface Checkpoint {
  size: number;
  duplicates: number;
  touched: Map<number, { ints: Int32Array; times: Float64Array }>;
}

/**
 * "Each device once": the latest record of each device (by dataRefreshTimestamp, then lastSeenTime;
 * a known time beats an unknown one), kept as a 44-byte packed summary in typed arrays (ten Uint16
 * ints, three Float64 times) beside its machineId as five words (64 bytes a device), found through an
 * open-addressing table: no string per device. The result does not depend on the order records
 * arrive in (exact ties are broken on the content), so sets filled in parallel merge to the same answer.
 *
 * Storage is in pages of PAGE devices, added as devices arrive and never copied: memory is what the
 * devices need plus one page and the table (4 bytes a slot, at most half full), never twice the set
 * as when an array doubles. A checkpoint lets one file's records be taken back (see rollback).
 */
export class DeviceSet {
  readonly values: ValueTable;
  /** Records that named a device already in the set (whether or not they replaced it). */
  duplicates = 0;
  private count = 0;
  /** Each int + 1 (0 for -1, null), or WIDE when it is too large: then the int is in `wide`. */
  private readonly intPages: Uint16Array[] = [];
  private readonly wide = new Map<number, number>();
  private readonly timePages: Float64Array[] = [];
  private readonly wordPages: Int32Array[] = [];
  /** Slot + 1 of each hex-id device (0: free), at most half full. */
  private table = new Int32Array(INITIAL_TABLE);
  /** Devices whose machineId is anything else, and the other way round. */
  private readonly named = new Map<string, number>();
  private readonly nameOf = new Map<number, string>();
  private checkpointed: Checkpoint | undefined;
  private readonly pendingMerges: DeviceSet[] = [];
  private readonly scratchInts = new Int32Array(INTS);
  private readonly keptInts = new Int32Array(INTS);
  private readonly scratchTimes = new Float64Array(TIMES);
  private readonly scratchWords = new Int32Array(ID_WORDS);
  private readonly mergeWords = new Int32Array(ID_WORDS);
  private readonly scratchBytes = new Uint8Array(HEX_ID_CHARS);

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
    if (typeof machineId === "string" && hexIdOf(machineId, this.scratchBytes, this.scratchWords)) words = this.scratchWords;
    if (words !== undefined) {
      const hash = hashWords(words, 0);
      const at = this.probe(words, hash);
      const entry = this.table[at]!;
      if (entry !== 0) {
        slot = (entry & SLOT_BITS) - 1;
      } else {
        const added = this.newSlot();
        const page = this.wordPages[added >> PAGE_BITS]!;
        const w = (added & PAGE_MASK) * ID_WORDS;
        for (let i = 0; i < ID_WORDS; i++) page[w + i] = words[i]!;
        this.table[at] = tagOf(hash) | (added + 1);
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
    const checkpoint = this.checkpointed;
    if (checkpoint !== undefined && slot < checkpoint.size && !checkpoint.touched.has(slot)) {
      const t = (slot & PAGE_MASK) * TIMES;
      checkpoint.touched.set(slot, {
        ints: this.intsOf(slot, new Int32Array(INTS)),
        times: this.timePages[slot >> PAGE_BITS]!.slice(t, t + TIMES),
      });
    }
    if (this.compare(ints, times, slot) > 0) this.store(slot, ints, times);
  }

  /**
   * Marks the set as it is now, to keep (commit) or take back (rollback) what is added until then:
   * one file's records, which count only once the file is read to its end.
   */
  checkpoint(): void {
    if (this.checkpointed !== undefined) throw new Error("DeviceSet.checkpoint: a checkpoint is open already");
    this.checkpointed = { size: this.count, duplicates: this.duplicates, touched: new Map() };
  }

  /** Keeps what was added since the checkpoint; returns how many distinct devices that was. */
  commit(): number {
    const checkpoint = this.closeCheckpoint();
    const devices = this.count - checkpoint.size + checkpoint.touched.size;
    this.mergePending();
    return devices;
  }

  /** Takes back everything added since the checkpoint: the set is as it was then. */
  rollback(): void {
    const checkpoint = this.closeCheckpoint();
    for (const [slot, kept] of checkpoint.touched) this.store(slot, kept.ints, kept.times);
    for (let slot = checkpoint.size; slot < this.count; slot++) {
      const name = this.nameOf.get(slot);
      if (name === undefined) continue;
      this.nameOf.delete(slot);
      this.named.delete(name);
    }
    this.count = checkpoint.size;
    this.duplicates = checkpoint.duplicates;
    this.rehash(this.table.length);
    this.mergePending();
  }

  private mergePending(): void {
    for (const other of this.pendingMerges.splice(0)) this.merge(other);
  }

  private closeCheckpoint(): Checkpoint {
    const checkpoint = this.checkpointed;
    if (checkpoint === undefined) throw new Error("DeviceSet: no checkpoint is open");
    this.checkpointed = undefined;
    return checkpoint;
  }

  /**
   * Adds every device of `other` (built from other files, on this set's ValueTable or another) to this
   * set, keeping the latest of each. Read from `other`'s pages as they are: no copy of its devices.
   */
  merge(other: DeviceSet): void {
    // NOTE: while a checkpoint is open, a merge waits for its commit or rollback, which must not take it back.
    if (this.checkpointed !== undefined) {
      this.pendingMerges.push(other);
      return;
    }
    this.duplicates += other.duplicates;
    // Ids of the other table → ids of this one, looked up once each (-2: not yet).
    const remap = other.values === this.values ? undefined : new Int32Array(other.values.size).fill(-2);
    const ints = this.scratchInts;
    const times = this.scratchTimes;
    const words = this.mergeWords;
    for (let slot = 0; slot < other.count; slot++) {
      other.intsOf(slot, ints);
      if (remap !== undefined) {
        for (let i = 0; i < INTS; i++) {
          const value = ints[i]!;
          if (i === FLAGS || value < 0) continue;
          let mapped = remap[value]!;
          if (mapped === -2) remap[value] = mapped = this.values.id(other.values.value(value));
          ints[i] = mapped;
        }
      }
      const page = slot >> PAGE_BITS;
      const at = slot & PAGE_MASK;
      const timePage = other.timePages[page]!;
      for (let i = 0; i < TIMES; i++) times[i] = timePage[at * TIMES + i]!;
      const name = other.nameOf.size > 0 ? other.nameOf.get(slot) : undefined;
      if (name !== undefined) {
        this.addPacked(name, ints, times);
        continue;
      }
      const wordPage = other.wordPages[page]!;
      for (let i = 0; i < ID_WORDS; i++) words[i] = wordPage[at * ID_WORDS + i]!;
      this.addPacked(words, ints, times);
    }
  }

  /** The set's state, sized to its devices (copies), to compare two sets whole. */
  data(): DeviceSetData {
    return {
      size: this.count,
      duplicates: this.duplicates,
      ints: this.allInts(),
      times: this.flat(this.timePages, TIMES, Float64Array),
      words: this.flat(this.wordPages, ID_WORDS, Int32Array),
      named: [...this.named],
    };
  }

  private allInts(): Int32Array {
    const out = new Int32Array(this.count * INTS);
    for (let slot = 0; slot < this.count; slot++) this.intsOf(slot, out.subarray(slot * INTS, (slot + 1) * INTS));
    return out;
  }

  private flat<T extends Int32Array | Float64Array>(pages: T[], width: number, type: new (length: number) => T): T {
    const out = new type(this.count * width);
    for (let p = 0; p * PAGE < this.count; p++) out.set(pages[p]!.subarray(0, Math.min(PAGE, this.count - p * PAGE) * width), p * PAGE * width);
    return out;
  }

  /** The summary kept for a device, or undefined when the set has not seen it. */
  get(machineId: string): DeviceSummary | undefined {
    let slot = this.named.get(machineId);
    if (slot === undefined && hexIdOf(machineId, this.scratchBytes, this.scratchWords)) {
      const entry = this.table[this.probe(this.scratchWords, hashWords(this.scratchWords, 0))]!;
      if (entry !== 0) slot = (entry & SLOT_BITS) - 1;
    }
    return slot === undefined ? undefined : this.read(slot, blankSummary());
  }

  /** Visits every device once. The summary object is reused between calls: copy what you keep. */
  forEach(visit: (device: DeviceSummary) => void): void {
    const summary = blankSummary();
    for (let slot = 0; slot < this.count; slot++) visit(this.read(slot, summary));
  }

  /** Bytes of the buffers behind the typed arrays held (excluding the map of non-hex ids and the value table). */
  get packedBytes(): number {
    let bytes = this.table.buffer.byteLength;
    for (const pages of [this.intPages, this.timePages, this.wordPages]) for (const page of pages) bytes += page.buffer.byteLength;
    return bytes;
  }

  /** The table index that holds these words (their hashWords `hash`), or the free index where they would go. */
  private probe(words: Int32Array, hash: number): number {
    const table = this.table;
    const mask = table.length - 1;
    const pages = this.wordPages;
    const tag = tagOf(hash);
    const w0 = words[0]!;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const entry = table[i]!;
      if (entry === 0) return i;
      // NOTE: the tag first: most other entries differ in it, and the device's words are a cache miss away.
      if ((entry & ~SLOT_BITS) !== tag) continue;
      const slot = (entry & SLOT_BITS) - 1;
      const page = pages[slot >> PAGE_BITS]!;
      const s = (slot & PAGE_MASK) * ID_WORDS;
      if (page[s] === w0 && page[s + 1] === words[1] && page[s + 2] === words[2] && page[s + 3] === words[3] && page[s + 4] === words[4]) return i;
    }
  }

  private rehash(size: number): void {
    const table = new Int32Array(size);
    const mask = size - 1;
    for (let slot = 0; slot < this.count; slot++) {
      if (this.nameOf.size > 0 && this.nameOf.has(slot)) continue;
      const hash = hashWords(this.wordPages[slot >> PAGE_BITS]!, (slot & PAGE_MASK) * ID_WORDS);
      let i = hash & mask;
      while (table[i] !== 0) i = (i + 1) & mask;
      table[i] = tagOf(hash) | (slot + 1);
    }
    this.table = table;
  }

  private store(slot: number, ints: Int32Array, times: Float64Array): void {
    const page = this.intPages[slot >> PAGE_BITS]!;
    const at = (slot & PAGE_MASK) * INTS;
    for (let i = 0; i < INTS; i++) {
      const stored = ints[i]! + 1;
      if (stored < WIDE) {
        if (this.wide.size > 0 && page[at + i] === WIDE) this.wide.delete(slot * INTS + i);
        page[at + i] = stored;
      } else {
        page[at + i] = WIDE;
        this.wide.set(slot * INTS + i, ints[i]!);
      }
    }
    const timePage = this.timePages[slot >> PAGE_BITS]!;
    const t = (slot & PAGE_MASK) * TIMES;
    for (let i = 0; i < TIMES; i++) timePage[t + i] = times[i]!;
  }

  /** The device's ints, into `out`. */
  private intsOf(slot: number, out: Int32Array): Int32Array {
    const page = this.intPages[slot >> PAGE_BITS]!;
    const at = (slot & PAGE_MASK) * INTS;
    for (let i = 0; i < INTS; i++) {
      const stored = page[at + i]!;
      out[i] = stored === WIDE ? this.wide.get(slot * INTS + i)! : stored - 1;
    }
    return out;
  }

  private newSlot(): number {
    if (this.count === MAX_DEVICES) throw new Error(`A DeviceSet holds at most ${MAX_DEVICES} devices (slot numbers share the hash table's entries with a tag).`);
    const slot = this.count++;
    if (slot >> PAGE_BITS === this.intPages.length) {
      this.intPages.push(new Uint16Array(PAGE * INTS));
      this.timePages.push(new Float64Array(PAGE * TIMES));
      this.wordPages.push(new Int32Array(PAGE * ID_WORDS));
    }
    return slot;
  }

  /** > 0 when the candidate is later than the device in `slot`. */
  private compare(ints: Int32Array, times: Float64Array, slot: number): number {
    const kept = this.intsOf(slot, this.keptInts);
    const keptTimes = this.timePages[slot >> PAGE_BITS]!;
    const t0 = (slot & PAGE_MASK) * TIMES;
    for (let i = 0; i < 2; i++) {
      const d = orderable(times[i]!) - orderable(keptTimes[t0 + i]!);
      if (d !== 0) return d;
    }
    // An exact tie: decide on the content, never on arrival order.
    for (let i = 0; i < INTS; i++) {
      const a = ints[i]!;
      const b = kept[i]!;
      if (a === b) continue;
      if (i === FLAGS) return a - b;
      const textA = this.values.value(a);
      const textB = this.values.value(b);
      if (textA === null) return -1;
      if (textB === null) return 1;
      return textA < textB ? -1 : 1;
    }
    return orderable(times[SIGNATURE_TIME]!) - orderable(keptTimes[t0 + SIGNATURE_TIME]!);
  }

  private read(slot: number, out: DeviceSummary): DeviceSummary {
    const t = (slot & PAGE_MASK) * TIMES;
    const ints = this.intsOf(slot, this.keptInts);
    const times = this.timePages[slot >> PAGE_BITS]!;
    const flags = ints[FLAGS]!;
    out.osPlatform = ints[OS_PLATFORM]!;
    out.avMode = ints[AV_MODE]!;
    out.rbacGroup = ints[RBAC_GROUP]!;
    out.cloudProtectionState = ints[CLOUD_PROTECTION]!;
    out.avSignatureVersion = ints[SIGNATURE_VERSION]!;
    out.avEngineVersion = ints[ENGINE_VERSION]!;
    out.avPlatformVersion = ints[PLATFORM_VERSION]!;
    out.quickScanResult = ints[QUICK_RESULT]!;
    out.fullScanResult = ints[FULL_RESULT]!;
    out.signatureUpToDate = flags & 3;
    out.engineUpToDate = (flags >> 2) & 3;
    out.platformUpToDate = (flags >> 4) & 3;
    out.quickScanFailed = (flags & QUICK_FAILED) !== 0;
    out.fullScanFailed = (flags & FULL_FAILED) !== 0;
    out.dataRefreshTime = times[t + REFRESHED]!;
    out.lastSeenTime = times[t + LAST_SEEN]!;
    out.signatureTime = times[t + SIGNATURE_TIME]!;
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
