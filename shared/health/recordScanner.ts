import { isAscii } from "node:buffer";
import {
  AV_MODE,
  CLOUD_PROTECTION,
  type DeviceSet,
  ENGINE_VERSION,
  FLAGS,
  FULL_RESULT,
  groupKey,
  hexId,
  ID_WORDS,
  INTS,
  isScanFailure,
  LAST_SEEN,
  OS_PLATFORM,
  packFlags,
  parseTime,
  PLATFORM_VERSION,
  QUICK_RESULT,
  RBAC_GROUP,
  REFRESHED,
  SIGNATURE_TIME,
  SIGNATURE_VERSION,
  TIMES,
  upToDateCode,
  type ValueTable,
} from "./devices.js";
import { groupId, text, upToDate } from "./normalise.js";

/*
 * The fast path of the summary: reads the fields the aggregation needs straight from the text of an
 * export-file line, without JSON.parse and without a DeviceHealthRecord, and packs the device into a
 * DeviceSet. It is exact or it declines: it walks the whole line against the export's own layout
 * (its keys, in its order, any of them missing; the nested objects as objects, as JSON strings, or
 * as null / "" / "-"), checks every token it passes as JSON.parse would, and declines (the caller
 * then parses the line in full, see reader.ts) on anything else: an unknown or differently-cased
 * key, whitespace between tokens, a key out of order or twice, escapes anywhere but in a top-level
 * string, control characters, and any line that is not valid JSON.
 *
 * Lines are decoded a block (~64 KiB) at a time as Latin-1, one byte one character, which is far
 * cheaper than UTF-8 per line; values with bytes above 0x7F are decoded again from the bytes as
 * UTF-8. JSON-in-a-string is read in place: at nesting level L a quote is written as 2^L - 1
 * backslashes and a `"`, so a string at level L >= 1 ends at its first backslash.
 */

type Raw = string | number | boolean | null | undefined;

// The fields read (slots of `raw`).
const DEVICE_ID = 0;
const OS_PLATFORM_F = 1;
const LAST_SEEN_F = 2;
const GROUP_ID_F = 3;
const GROUP_NAME_F = 4;
const TIMESTAMP_F = 5;
const AV_MODE_F = 6;
const SIGNATURE_VERSION_F = 7;
const ENGINE_VERSION_F = 8;
const PLATFORM_VERSION_F = 9;
const SIGNATURE_UPDATE_F = 10;
const SIGNATURE_PUBLISH_F = 11;
const SIGNATURE_UP_F = 12;
const ENGINE_UP_F = 13;
const PLATFORM_UP_F = 14;
const CLOUD_F = 15;
const QUICK_STATUS_F = 16;
const QUICK_ERROR_F = 17;
const FULL_STATUS_F = 18;
const FULL_ERROR_F = 19;
const FIELDS = 20;
/** Fields whose value may be read as a time in place. */
const IS_TIME = new Uint8Array(FIELDS);
for (const slot of [LAST_SEEN_F, TIMESTAMP_F, SIGNATURE_UPDATE_F, SIGNATURE_PUBLISH_F]) IS_TIME[slot] = 1;

const SKIP = -1;
/** Arrays and objects passed over may nest this deep; deeper lines are left to the full parse. */
const MAX_DEPTH = 16;

/** One key of an object as the export writes it: a field to read, a value to pass over, or a nested object. */
interface Member {
  name: string;
  slot: number;
  nested?: Layout;
}

/** An object's members in the export's order, with their key literals per nesting level (`"Name":`). */
class Layout {
  readonly keys: string[][];
  /** The members' names in lower case: another key that matches one of them is not passed over. */
  readonly lowerNames: Set<string>;
  constructor(readonly members: Member[]) {
    this.keys = QUOTES.map((q) => members.map((m) => `${q}${m.name}${q}:`));
    this.lowerNames = new Set(members.map((m) => m.name.toLowerCase()));
  }
}

const QUOTES = ['"', '\\"', '\\\\\\"', '\\\\\\\\\\\\\\"'] as const;
const MAX_LEVEL = QUOTES.length - 1;

function scanLayout(status: number, error: number): Layout {
  return new Layout([
    { name: "ScanStatus", slot: status },
    { name: "ErrorCode", slot: error },
    { name: "Timestamp", slot: SKIP },
  ]);
}

const RECORD = new Layout([
  { name: "DeviceId", slot: DEVICE_ID },
  { name: "DeviceName", slot: SKIP },
  { name: "OsPlatform", slot: OS_PLATFORM_F },
  { name: "OsVersion", slot: SKIP },
  { name: "LastSeenTime", slot: LAST_SEEN_F },
  { name: "RbacGroupId", slot: GROUP_ID_F },
  { name: "RbacGroupName", slot: GROUP_NAME_F },
  { name: "Timestamp", slot: TIMESTAMP_F },
  {
    name: "DeviceGatheredInfo",
    slot: SKIP,
    nested: new Layout([
      { name: "AvMode", slot: AV_MODE_F },
      { name: "AvSignatureVersion", slot: SIGNATURE_VERSION_F },
      { name: "AvEngineVersion", slot: ENGINE_VERSION_F },
      { name: "AvPlatformVersion", slot: PLATFORM_VERSION_F },
      { name: "AvEngineUpdateTime", slot: SKIP },
      { name: "AvSignatureUpdateTime", slot: SIGNATURE_UPDATE_F },
      { name: "AvPlatformUpdateTime", slot: SKIP },
      { name: "AvSignaturePublishTime", slot: SIGNATURE_PUBLISH_F },
      { name: "AvIsSignatureUptoDate", slot: SIGNATURE_UP_F },
      { name: "AvIsEngineUptodate", slot: ENGINE_UP_F },
      { name: "AvIsPlatformUptodate", slot: PLATFORM_UP_F },
      { name: "CloudProtectionState", slot: CLOUD_F },
      { name: "AvSignatureDataRefreshTime", slot: SKIP },
      { name: "AvModeDataRefreshTime", slot: SKIP },
      {
        name: "AvScanResults",
        slot: SKIP,
        nested: new Layout([
          { name: "Quick", slot: SKIP, nested: scanLayout(QUICK_STATUS_F, QUICK_ERROR_F) },
          { name: "Full", slot: SKIP, nested: scanLayout(FULL_STATUS_F, FULL_ERROR_F) },
        ]),
      },
    ]),
  },
]);

/** Decoding blocks of about this many bytes: a 64 KiB string is cheap to make, a much larger one is not. */
const BLOCK_BYTES = 64 * 1024;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const NON_ASCII = /[\x80-\xff]/g;
const BACKSLASH = /\\/g;
const NONE = Number.MAX_SAFE_INTEGER;

const Q = 0x22; // "
const BS = 0x5c; // \

/** Thrown (never out of this file) when a line is not one the fast path reads exactly. */
const DECLINE = new Error("declined");

/**
 * Reads export-file lines into a DeviceSet the fast way, or says it cannot (scan returns false,
 * nothing changed) and leaves the line to the full parse. One scanner per file being read; its caches
 * hold value ids of `values`, so every set it fills must use that ValueTable.
 */
export class RecordScanner {
  /** Lines read here, and lines left to the full parse. */
  scanned = 0;
  declined = 0;

  private readonly raw: Raw[] = new Array<Raw>(FIELDS).fill(undefined);
  /** Fields read in place: times as epoch ms (rawTime), the device id as words. */
  private readonly rawTime = new Float64Array(FIELDS);
  private readonly timeRead = new Uint8Array(FIELDS);
  private idRead = false;
  private readonly words = new Int32Array(ID_WORDS);
  private readonly ints = new Int32Array(INTS);
  private readonly times = new Float64Array(TIMES);
  /** Per field: the raw value last turned into an id or code, and that id (records repeat values). */
  private readonly memoRaw: Raw[] = new Array<Raw>(FIELDS).fill(undefined);
  private readonly memoId = new Int32Array(FIELDS).fill(-2);
  private memoGroupId: Raw = undefined;
  private memoGroupName: Raw = undefined;
  private memoGroup = -2;

  // The decoded block: s = buf[blockStart, blockEnd) as Latin-1, and the next position (in s) of a
  // control character, a byte above 0x7F and a backslash at or after the walk's position.
  private buf: Buffer | undefined;
  private blockStart = 0;
  private blockEnd = 0;
  private s = "";
  /** Positions (in s) of the bytes below 0x20 in the block, and the index of the next one to pass. */
  private controls: number[] = [];
  private controlAt = 0;
  private nextNonAscii = NONE;
  private nextBackslash = NONE;

  private pos = 0;
  private end = 0;

  constructor(readonly values: ValueTable) {}

  /**
   * Reads the line `buf[start, end)` (no line end, no BOM) into `devices` and returns true, or
   * returns false and changes nothing.
   */
  scan(buf: Buffer, start: number, end: number, devices: DeviceSet): boolean {
    if (buf !== this.buf || start < this.blockStart || end > this.blockEnd) this.decode(buf, start, end);
    const from = start - this.blockStart;
    const to = end - this.blockStart;
    if (this.hasControl(from, to) || !this.walk(from, to) || !this.pack()) {
      this.declined++;
      return false;
    }
    devices.addPacked(this.idRead ? this.words : (this.raw[DEVICE_ID] as string).trim(), this.ints, this.times);
    this.scanned++;
    return true;
  }

  private decode(buf: Buffer, start: number, end: number): void {
    let blockEnd = start + BLOCK_BYTES >= buf.length ? buf.length : buf.lastIndexOf(0x0a, start + BLOCK_BYTES);
    if (blockEnd < end) blockEnd = end;
    this.buf = buf;
    this.blockStart = start;
    this.blockEnd = blockEnd;
    this.s = buf.toString("latin1", start, blockEnd);
    this.controls = controlCharacters(buf, start, blockEnd);
    this.controlAt = 0;
    // NOTE: isAscii is native and fast; most blocks have no byte above 0x7F, and then no search is needed.
    this.nextNonAscii = isAscii(buf.subarray(start, blockEnd)) ? NONE : -1;
    this.nextBackslash = -1;
  }

  /** The first position >= at of a character that `re` finds, cached while the walk moves forward. */
  private next(re: RegExp, cached: number, at: number): number {
    if (cached >= at) return cached;
    re.lastIndex = at;
    const found = re.exec(this.s);
    return found === null ? NONE : found.index;
  }

  /** Whether s[from, to) holds a byte below 0x20 (JSON forbids them raw; line feeds never fall inside a line). */
  private hasControl(from: number, to: number): boolean {
    const controls = this.controls;
    while (this.controlAt < controls.length && controls[this.controlAt]! < from) this.controlAt++;
    return this.controlAt < controls.length && controls[this.controlAt]! < to;
  }

  private nonAscii(at: number): number {
    return (this.nextNonAscii = this.next(NON_ASCII, this.nextNonAscii, at));
  }

  private backslash(at: number): number {
    return (this.nextBackslash = this.next(BACKSLASH, this.nextBackslash, at));
  }

  private walk(from: number, to: number): boolean {
    this.raw.fill(undefined);
    this.timeRead.fill(0);
    this.idRead = false;
    this.pos = from;
    this.end = to;
    try {
      this.object(RECORD, 0);
    } catch (error) {
      if (error === DECLINE) return false;
      throw error;
    }
    return this.pos === to;
  }

  /** The object at `pos` (its `{`) at string-nesting `level`, read against `layout`. */
  private object(layout: Layout, level: number): void {
    const s = this.s;
    if (s.charCodeAt(this.pos) !== 0x7b) throw DECLINE;
    this.pos++;
    if (s.charCodeAt(this.pos) === 0x7d) {
      this.pos++;
      return;
    }
    const keys = layout.keys[level]!;
    const members = layout.members;
    let next = 0;
    for (;;) {
      let i = next;
      while (i < keys.length && !startsAt(s, keys[i]!, this.pos)) i++;
      if (i < keys.length) {
        this.pos += keys[i]!.length;
        const member = members[i]!;
        if (member.nested !== undefined) this.nested(member.nested, level);
        else this.value(member.slot, level);
        next = i + 1;
      } else {
        // An extra column (documented as temporary): passed over, unless it is one of ours in
        // another letter case, out of order or repeated (then JSON.parse and normalise decide).
        this.otherKey(layout, level);
        this.skip(level, 0);
      }
      const c = s.charCodeAt(this.pos++);
      if (c === 0x7d) return;
      if (c !== 0x2c) throw DECLINE;
    }
  }

  /** A key that is not the layout's, with its `:`; declines if it could be read as one of the layout's. */
  private otherKey(layout: Layout, level: number): void {
    const s = this.s;
    const quote = QUOTES[level]!;
    if (!startsAt(s, quote, this.pos)) throw DECLINE;
    const open = this.pos + quote.length;
    const close = s.indexOf(level === 0 ? '"' : "\\", open);
    if (close < 0 || close >= this.end || !startsAt(s, quote, close)) throw DECLINE;
    const name = s.slice(open, close);
    if (/[^\x20-\x21\x23-\x5b\x5d-\x7e]/.test(name) || layout.lowerNames.has(name.toLowerCase())) throw DECLINE;
    this.pos = close + quote.length;
    if (s.charCodeAt(this.pos++) !== 0x3a) throw DECLINE;
  }

  /** Passes over any JSON value at `pos` at string-nesting `level`, checking it as JSON.parse would. */
  private skip(level: number, depth: number): void {
    const s = this.s;
    const c = s.charCodeAt(this.pos);
    if (c !== 0x7b && c !== 0x5b) {
      this.value(SKIP, level);
      return;
    }
    if (depth >= MAX_DEPTH) throw DECLINE;
    const close = c === 0x7b ? 0x7d : 0x5d;
    this.pos++;
    if (s.charCodeAt(this.pos) === close) {
      this.pos++;
      return;
    }
    const quote = QUOTES[level]!;
    for (;;) {
      if (c === 0x7b) {
        // Any key: a plain string at this level.
        if (!startsAt(s, quote, this.pos)) throw DECLINE;
        this.value(SKIP, level);
        if (s.charCodeAt(this.pos++) !== 0x3a) throw DECLINE;
      }
      this.skip(level, depth + 1);
      const next = s.charCodeAt(this.pos++);
      if (next === close) return;
      if (next !== 0x2c) throw DECLINE;
    }
  }

  /** A nested object: an object, a JSON string holding one (a level deeper), or null, "" or "-" (none). */
  private nested(layout: Layout, level: number): void {
    const s = this.s;
    const c = s.charCodeAt(this.pos);
    if (c === 0x7b) {
      this.object(layout, level);
      return;
    }
    if (c === 0x6e && s.startsWith("null", this.pos)) {
      this.pos += 4;
      return;
    }
    const quote = QUOTES[level]!;
    if (!s.startsWith(quote, this.pos)) throw DECLINE;
    this.pos += quote.length;
    const inner = s.charCodeAt(this.pos);
    if (inner === 0x7b && level < MAX_LEVEL) this.object(layout, level + 1);
    else if (inner === 0x2d) this.pos++;
    if (!s.startsWith(quote, this.pos)) throw DECLINE;
    this.pos += quote.length;
  }

  /** A scalar at `pos`: kept in raw[slot] as JSON.parse would give it, or only checked when slot is SKIP. */
  private value(slot: number, level: number): void {
    const s = this.s;
    const start = this.pos;
    const c = s.charCodeAt(start);
    if (level === 0 ? c === Q : c === BS) {
      this.string(slot, level);
      return;
    }
    let value: Raw;
    if (c === 0x6e && s.startsWith("null", start)) {
      this.pos += 4;
      value = null;
    } else if (c === 0x74 && s.startsWith("true", start)) {
      this.pos += 4;
      value = true;
    } else if (c === 0x66 && s.startsWith("false", start)) {
      this.pos += 5;
      value = false;
    } else {
      NUMBER.lastIndex = start;
      if (!NUMBER.test(s) || NUMBER.lastIndex > this.end) throw DECLINE;
      this.pos = NUMBER.lastIndex;
      if (slot === SKIP) return;
      value = Number(s.slice(start, this.pos));
    }
    if (slot !== SKIP) this.raw[slot] = value;
  }

  private string(slot: number, level: number): void {
    const s = this.s;
    const quote = QUOTES[level]!;
    const open = this.pos + quote.length;
    let close: number;
    if (level === 0) {
      close = s.indexOf('"', open);
      if (close < 0 || close >= this.end) throw DECLINE;
      if (this.backslash(open) < close) {
        this.escaped(slot, open);
        return;
      }
    } else {
      if (!s.startsWith(quote, this.pos)) throw DECLINE;
      // A string inside a string holds no backslash of its own: its first one starts its closing quote.
      close = s.indexOf("\\", open);
      if (close < 0 || close >= this.end || !s.startsWith(quote, close)) throw DECLINE;
      // A raw `"` before it would have ended the enclosing top-level string.
      const q = s.indexOf('"', open);
      if (q < close) throw DECLINE;
    }
    this.pos = close + quote.length;
    if (slot === SKIP) return;
    const length = close - open;
    if (slot === DEVICE_ID && length === 40 && hexId(s, open, this.words)) {
      this.idRead = true;
      this.raw[slot] = "";
    } else if (IS_TIME[slot] === 1 && length === 20 && this.time(slot, open)) {
      this.raw[slot] = "";
    } else {
      this.raw[slot] = this.nonAscii(open) < close ? this.buf!.toString("utf8", this.blockStart + open, this.blockStart + close) : s.slice(open, close);
    }
  }

  /** A top-level string with escapes, its text from `open`: its end found by counting backslashes, decoded by JSON.parse. */
  private escaped(slot: number, open: number): void {
    const s = this.s;
    let close = s.indexOf('"', open);
    for (;;) {
      if (close < 0 || close >= this.end) throw DECLINE;
      let k = close - 1;
      while (s.charCodeAt(k) === BS) k--;
      if ((close - 1 - k) % 2 === 0) break;
      close = s.indexOf('"', close + 1);
    }
    const literal = this.buf!.toString("utf8", this.blockStart + open - 1, this.blockStart + close + 1);
    this.pos = close + 1;
    let value: unknown;
    try {
      value = JSON.parse(literal);
    } catch {
      throw DECLINE;
    }
    if (slot !== SKIP) this.raw[slot] = value as string;
  }

  /** Reads `YYYY-MM-DDTHH:MM:SSZ` at `at` into rawTime[slot] as Date.parse would; false for anything else. */
  private time(slot: number, at: number): boolean {
    const s = this.s;
    if (s.charCodeAt(at + 4) !== 0x2d || s.charCodeAt(at + 7) !== 0x2d || s.charCodeAt(at + 10) !== 0x54) return false;
    if (s.charCodeAt(at + 13) !== 0x3a || s.charCodeAt(at + 16) !== 0x3a || s.charCodeAt(at + 19) !== 0x5a) return false;
    const year = digits(s, at, 4);
    const month = digits(s, at + 5, 2);
    const day = digits(s, at + 8, 2);
    const hour = digits(s, at + 11, 2);
    const minute = digits(s, at + 14, 2);
    const second = digits(s, at + 17, 2);
    // Date.parse takes any day up to 31 (rolling over into the next month), as Date.UTC does.
    if (year < 1970 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return false;
    this.rawTime[slot] = Date.UTC(year, month - 1, day, hour, minute, second);
    this.timeRead[slot] = 1;
    return true;
  }

  /** Packs the fields as DeviceSet.add packs the normalised record; false when the device id is unusable. */
  private pack(): boolean {
    const raw = this.raw;
    if (!this.idRead && (typeof raw[DEVICE_ID] !== "string" || text(raw[DEVICE_ID]) === null)) return false;
    const ints = this.ints;
    ints[OS_PLATFORM] = this.valueId(OS_PLATFORM_F);
    ints[AV_MODE] = this.valueId(AV_MODE_F);
    ints[RBAC_GROUP] = this.group();
    ints[CLOUD_PROTECTION] = this.valueId(CLOUD_F);
    ints[SIGNATURE_VERSION] = this.valueId(SIGNATURE_VERSION_F);
    ints[ENGINE_VERSION] = this.valueId(ENGINE_VERSION_F);
    ints[PLATFORM_VERSION] = this.valueId(PLATFORM_VERSION_F);
    ints[QUICK_RESULT] = this.valueId(QUICK_STATUS_F);
    ints[FULL_RESULT] = this.valueId(FULL_STATUS_F);
    ints[FLAGS] = packFlags(
      this.upToDate(SIGNATURE_UP_F),
      this.upToDate(ENGINE_UP_F),
      this.upToDate(PLATFORM_UP_F),
      isScanFailure(text(raw[QUICK_STATUS_F]), text(raw[QUICK_ERROR_F])),
      isScanFailure(text(raw[FULL_STATUS_F]), text(raw[FULL_ERROR_F])),
    );
    const times = this.times;
    times[REFRESHED] = this.timeOf(TIMESTAMP_F);
    times[LAST_SEEN] = this.timeOf(LAST_SEEN_F);
    const updated = this.timeOf(SIGNATURE_UPDATE_F);
    times[SIGNATURE_TIME] = Number.isNaN(updated) ? this.timeOf(SIGNATURE_PUBLISH_F) : updated;
    return true;
  }

  private valueId(slot: number): number {
    const raw = this.raw[slot];
    if (raw === this.memoRaw[slot] && this.memoId[slot] !== -2) return this.memoId[slot]!;
    // avMode is "" when missing, every other field null (as normalise reads them).
    const id = this.values.id(slot === AV_MODE_F ? (text(raw) ?? "") : text(raw));
    this.memoRaw[slot] = raw;
    this.memoId[slot] = id;
    return id;
  }

  private upToDate(slot: number): number {
    const raw = this.raw[slot];
    if (raw === this.memoRaw[slot] && this.memoId[slot] !== -2) return this.memoId[slot]!;
    const code = upToDateCode(upToDate(raw));
    this.memoRaw[slot] = raw;
    this.memoId[slot] = code;
    return code;
  }

  private timeOf(slot: number): number {
    return this.timeRead[slot] === 1 ? this.rawTime[slot]! : parseTime(text(this.raw[slot]));
  }

  private group(): number {
    const id = this.raw[GROUP_ID_F];
    const name = this.raw[GROUP_NAME_F];
    if (this.memoGroup !== -2 && id === this.memoGroupId && name === this.memoGroupName) return this.memoGroup;
    this.memoGroupId = id;
    this.memoGroupName = name;
    this.memoGroup = this.values.id(groupKey(groupId(id), text(name)));
    return this.memoGroup;
  }
}

/** s.startsWith(literal, at), which V8 does not make fast with a position (measured: ~2x slower here). */
function startsAt(s: string, literal: string, at: number): boolean {
  // NOTE: the second character first: keys of one object share their first (a quote) but rarely their second.
  if (literal.length === 1) return s.charCodeAt(at) === literal.charCodeAt(0);
  return s.charCodeAt(at + 1) === literal.charCodeAt(1) && s.slice(at, at + literal.length) === literal;
}

/**
 * Offsets (from `start`) of the bytes below 0x20 in `buf[start, end)`, line feeds excepted. Four
 * bytes at a time: a word holds such a byte exactly when (w - 0x20202020) & ~w & 0x80808080 is not 0.
 */
function controlCharacters(buf: Buffer, start: number, end: number): number[] {
  const found: number[] = [];
  const check = (from: number, to: number): void => {
    for (let i = from; i < to; i++) if (buf[i]! < 0x20 && buf[i] !== 0x0a) found.push(i - start);
  };
  const first = Math.min(end, start + ((4 - ((buf.byteOffset + start) & 3)) & 3));
  check(start, first);
  const words = new Int32Array(buf.buffer, buf.byteOffset + first, (end - first) >> 2);
  const n = words.length & ~3;
  for (let i = 0; i < n; i += 4) {
    const a = words[i]!;
    const b = words[i + 1]!;
    const c = words[i + 2]!;
    const d = words[i + 3]!;
    if ((((a - 0x20202020) & ~a) | ((b - 0x20202020) & ~b) | ((c - 0x20202020) & ~c) | ((d - 0x20202020) & ~d)) & 0x80808080) {
      check(first + i * 4, first + i * 4 + 16);
    }
  }
  check(first + n * 4, end);
  return found;
}

function digits(s: string, at: number, count: number): number {
  let value = 0;
  for (let i = at; i < at + count; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return value;
}
