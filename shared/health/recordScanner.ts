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
 * The fast path of the summary: reads the fields the aggregation needs straight from the bytes of an
 * export-file line, without JSON.parse, without a DeviceHealthRecord and without a string per line,
 * and packs the device into a DeviceSet. It is exact or it declines: it walks the whole line against
 * the export's own layout (its keys, in its order, any of them missing; the nested objects as
 * objects, as JSON strings, or as null / "" / "-"), checks every byte it passes as JSON.parse would,
 * and declines (the caller then parses the line in full, see reader.ts) on anything else: an unknown
 * key that matches one of ours in another letter case, whitespace between tokens, a key out of order
 * or twice, escapes anywhere but in a top-level string, control characters, and any line that is not
 * valid JSON.
 *
 * JSON-in-a-string is read in place: at nesting level L a quote is written as 2^L - 1 backslashes and
 * a `"`, so a string at level L >= 1 ends at its first backslash. Keys are compared eight bytes at a
 * time and string bodies passed four at a time (Keys, plain); the values the summary keeps are looked
 * up by their bytes (Texts), so a value seen before costs no string.
 */

// The fields read (slots of the per-line arrays).
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
/** By slot + 1 (SKIP is -1): the fields that may be read in place (see RecordScanner.inPlace). */
const IN_PLACE = Uint8Array.from({ length: FIELDS + 1 }, (_, i) => (i - 1 === DEVICE_ID || IS_TIME[i - 1] === 1 ? 1 : 0));

// What a field held on the line: its JSON type, or a value already read in place (TIME, HEX).
const ABSENT = 0;
const NULL = 1;
const STRING = 2;
const NUMBER = 3;
const TRUE = 4;
const FALSE = 5;
const TIME = 6;
const HEX = 7;
/** A STRING looked up in the texts seen: `from` holds its entry. */
const INTERNED = 8;

const SKIP = -1;
/** Arrays and objects passed over may nest this deep; deeper lines are left to the full parse. */
const MAX_DEPTH = 16;

const Q = 0x22; // "
const BS = 0x5c; // \
/** 1 for the bytes a string may hold as they are: not a quote, a backslash or a control character. */
const PLAIN = new Uint8Array(256).fill(1);
for (let c = 0; c < 0x20; c++) PLAIN[c] = 0;
PLAIN[Q] = 0;
PLAIN[BS] = 0;
/** The value of a hexadecimal digit (either case, as a \u escape takes it), -1 for other bytes. */
const HEX_DIGIT = new Int8Array(256).fill(-1);
for (let c = 0; c < 256; c++) {
  const digit = Number.parseInt(String.fromCharCode(c), 16);
  if (!Number.isNaN(digit)) HEX_DIGIT[c] = digit;
}

const ascii = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));
const QUOTES = ['"', '\\"', '\\\\\\"', '\\\\\\\\\\\\\\"'].map(ascii);
const MAX_LEVEL = QUOTES.length - 1;
const QUOTE_LENGTHS = Int32Array.from(QUOTES, (q) => q.length);
const quoteView = (level: number) => new DataView(QUOTES[level]!.buffer);
const QUOTE_1 = quoteView(1).getUint16(0, true);
const QUOTE_2 = quoteView(2).getInt32(0, true);
const QUOTE_3 = quoteView(3).getFloat64(0, true);
const NULL_BYTES = ascii("null");
const TRUE_BYTES = ascii("true");
const FALSE_BYTES = ascii("false");

/**
 * The key literals of one object at one nesting level (`"Name":`, `\"Name\":`, …), for comparing
 * eight bytes at a time: key i is the little-endian float64s values[4i … 4i + 3] at its bytes
 * offsets[4i … 4i + 3] (0, 8, 16, 24, each at most length - 8: the last ones overlap or repeat), as
 * many as its length needs, written out rather than looped. Comparing as doubles is exact here: an
 * ASCII word is neither a NaN nor a zero, so only the same eight bytes equal it. Keys under eight
 * bytes are compared as their first and last four bytes (int32s: head, tail).
 */
class Keys {
  readonly lengths: Int32Array;
  readonly offsets: Int32Array;
  readonly values: Float64Array;
  readonly head: Int32Array;
  readonly tail: Int32Array;

  constructor(literals: Uint8Array[]) {
    this.lengths = Int32Array.from(literals, (l) => l.length);
    this.offsets = new Int32Array(literals.length * 4);
    this.values = new Float64Array(literals.length * 4);
    this.head = new Int32Array(literals.length);
    this.tail = new Int32Array(literals.length);
    literals.forEach((literal, i) => {
      if (literal.length > 32) throw new Error(`key literal of ${literal.length} bytes: compared as at most four words`);
      const view = new DataView(literal.buffer, literal.byteOffset, literal.length);
      this.head[i] = view.getInt32(0, true);
      this.tail[i] = view.getInt32(literal.length - 4, true);
      for (let w = 0; w < 4; w++) {
        const offset = Math.max(0, Math.min(w * 8, literal.length - 8));
        this.offsets[i * 4 + w] = offset;
        this.values[i * 4 + w] = literal.length < 8 ? NaN : view.getFloat64(offset, true);
      }
    });
  }
}

/** One key of an object as the export writes it: a field to read, a value to pass over, or a nested object. */
interface Member {
  name: string;
  slot: number;
  nested?: Layout;
}

/**
 * An object's members in the export's order, with their keys per nesting level: up to `deepest`, the
 * object's own depth in the record (each object above it may be a JSON string, a level deeper).
 */
class Layout {
  readonly keys: Keys[];
  readonly slots: Int32Array;
  readonly nested: (Layout | null)[];
  /** The members' names in lower case: another key that matches one of them is not passed over. */
  private readonly lowerNames: Set<string>;
  /** Other keys seen to pass (their bytes), the few extra columns an export has. */
  private readonly passed: Buffer[] = [];

  constructor(members: Member[], deepest: number) {
    this.keys = QUOTES.slice(0, deepest + 1).map((q) => {
      const quote = String.fromCharCode(...q);
      return new Keys(members.map((m) => ascii(`${quote}${m.name}${quote}:`)));
    });
    this.slots = Int32Array.from(members, (m) => m.slot);
    this.nested = members.map((m) => m.nested ?? null);
    this.lowerNames = new Set(members.map((m) => m.name.toLowerCase()));
  }

  /** Whether a key that is none of the members, named buf[from, to) (printable ASCII), may be passed over. */
  passes(buf: Buffer, from: number, to: number): boolean {
    for (const name of this.passed) {
      if (name.length !== to - from) continue;
      let i = 0;
      while (i < name.length && name[i] === buf[from + i]) i++;
      if (i === name.length) return true;
    }
    const key = buf.toString("latin1", from, to);
    if (this.lowerNames.has(key.toLowerCase())) return false;
    if (this.passed.length < MAX_PASSED) this.passed.push(Buffer.from(key, "latin1"));
    return true;
  }
}
const MAX_PASSED = 16;

function scanLayout(status: number, error: number): Layout {
  return new Layout([
    { name: "ScanStatus", slot: status },
    { name: "ErrorCode", slot: error },
    { name: "Timestamp", slot: SKIP },
  ], 3);
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
        ], 2),
      },
    ], 1),
  },
], 0);

/** Thrown (never out of this file) when a line is not one the fast path reads exactly. */
const DECLINE = new Error("declined");

// What a field's text means to a device's flags (see flagsOfText): the up-to-date code, two failures.
const UP_TO_DATE = 3;
const STATUS_FAILED = 4;
const ERROR_FAILED = 8;

/**
 * Reads export-file lines into a DeviceSet the fast way, or says it cannot (scan returns false,
 * nothing changed) and leaves the line to the full parse. One scanner per file being read; its caches
 * hold value ids of `values`, so every set it fills must use that ValueTable.
 */
export class RecordScanner {
  /** Lines read here, and lines left to the full parse. */
  scanned = 0;
  declined = 0;

  private buf: Buffer = Buffer.alloc(0);
  private view = new DataView(this.buf.buffer, 0, 0);
  private pos = 0;
  private end = 0;

  // Per field: what the line held (ABSENT … HEX), where its string's text is in buf, or its number or time.
  private readonly kind = new Uint8Array(FIELDS);
  private readonly from = new Int32Array(FIELDS);
  private readonly to = new Int32Array(FIELDS);
  private readonly escaped = new Uint8Array(FIELDS);
  private readonly number = new Float64Array(FIELDS);
  private readonly words = new Int32Array(ID_WORDS);
  private name = "";

  private readonly ints = new Int32Array(INTS);
  private readonly times = new Float64Array(TIMES);
  private readonly texts: Texts;
  /** Per field, its entry in texts on the last line that had one. */
  private readonly lastEntry = new Int32Array(FIELDS).fill(MAX_TEXTS);
  /** The value id of each one-byte string (-2: not yet). */
  private readonly byteIds = new Int32Array(256).fill(-2);
  private memoGroupId: number | null = null;
  private memoGroupName = -2;
  private memoGroup = -2;
  private memoClears = -1;

  constructor(readonly values: ValueTable) {
    this.texts = new Texts(values);
  }

  /**
   * Reads the line `buf[start, end)` (no line end, no BOM) into `devices` and returns true, or
   * returns false and changes nothing.
   */
  scan(buf: Buffer, start: number, end: number, devices: DeviceSet): boolean {
    if (buf !== this.buf) {
      this.buf = buf;
      this.view = new DataView(buf.buffer, buf.byteOffset, buf.length);
    }
    const kind = this.kind;
    for (let slot = 0; slot < FIELDS; slot++) kind[slot] = ABSENT;
    this.pos = start;
    this.end = end;
    let read: boolean;
    try {
      this.object(RECORD, 0);
      read = this.pos === end && this.pack();
    } catch (error) {
      if (error !== DECLINE) throw error;
      read = false;
    }
    if (!read) {
      this.declined++;
      return false;
    }
    devices.addPacked(this.kind[DEVICE_ID] === HEX ? this.words : this.name, this.ints, this.times);
    this.scanned++;
    return true;
  }

  /** The byte at `at` of the line, -1 past its end. */
  private byte(at: number): number {
    return at < this.end ? this.buf[at]! : -1;
  }

  /** Whether the line holds the quote of nesting `level` (see QUOTES) at `at`. */
  private quoteAt(level: number, at: number): boolean {
    if (at + QUOTE_LENGTHS[level]! > this.end) return false;
    if (level === 0) return this.buf[at] === Q;
    if (level === 1) return this.view.getUint16(at, true) === QUOTE_1;
    if (level === 2) return this.view.getInt32(at, true) === QUOTE_2;
    return this.view.getFloat64(at, true) === QUOTE_3;
  }

  /** Whether the line holds `literal` at `at`. */
  private holds(literal: Uint8Array, at: number): boolean {
    if (at + literal.length > this.end) return false;
    const buf = this.buf;
    for (let i = 0; i < literal.length; i++) if (buf[at + i] !== literal[i]) return false;
    return true;
  }

  /**
   * The object at `pos` (its `{`) at string-nesting `level`, read against `layout`.
   * NOTE: one function with the key comparison and the usual string value written in (V8 does not
   * inline calls this size, and a line has some forty members); the rest goes through calls.
   */
  private object(layout: Layout, level: number): void {
    const buf = this.buf;
    const view = this.view;
    const end = this.end;
    let pos = this.pos;
    if (pos >= end || buf[pos] !== 0x7b) throw DECLINE;
    pos++;
    if (pos < end && buf[pos] === 0x7d) {
      this.pos = pos + 1;
      return;
    }
    const { lengths, offsets, values, head, tail } = layout.keys[level]!;
    const members = lengths.length;
    const quote = QUOTES[level]!;
    const opens = level === 0 ? Q : BS;
    let next = 0;
    for (;;) {
      // The key: the first of the layout's from the one expected next that the line holds here.
      let i = next;
      for (; i < members; i++) {
        const length = lengths[i]!;
        if (pos + length > end) continue;
        const w = i * 4;
        if (length >= 8) {
          if (
            view.getFloat64(pos + offsets[w]!, true) === values[w] &&
            view.getFloat64(pos + offsets[w + 1]!, true) === values[w + 1] &&
            (length <= 16 || (view.getFloat64(pos + offsets[w + 2]!, true) === values[w + 2] && (length <= 24 || view.getFloat64(pos + offsets[w + 3]!, true) === values[w + 3])))
          ) {
            break;
          }
        } else if (view.getInt32(pos, true) === head[i] && view.getInt32(pos + length - 4, true) === tail[i]) {
          break;
        }
      }
      if (i === members) {
        // An extra column (documented as temporary): passed over, unless it is one of ours in
        // another letter case, out of order or repeated (then JSON.parse and normalise decide).
        this.pos = pos;
        this.otherKey(layout, level);
        this.skip(level, 0);
        pos = this.pos;
      } else {
        pos += lengths[i]!;
        next = i + 1;
        const nested = layout.nested[i]!;
        const slot = layout.slots[i]!;
        this.pos = pos;
        if (nested !== null) {
          this.nested(nested, level);
        } else if (pos >= end || buf[pos] !== opens || (level > 0 && !this.quoteAt(level, pos))) {
          this.value(slot, level);
        } else if (IN_PLACE[slot + 1] === 0 || !this.inPlace(slot, pos + quote.length, level)) {
          // The usual value, a string without escapes, written in; string() reads any other.
          const open = pos + quote.length;
          const close = this.plain(open);
          if (!this.quoteAt(level, close)) {
            this.string(slot, level);
          } else {
            this.pos = close + quote.length;
            if (slot !== SKIP) this.note(slot, open, close, 0);
          }
        }
        pos = this.pos;
      }
      if (pos >= end) throw DECLINE;
      const c = buf[pos++]!;
      if (c === 0x7d) {
        this.pos = pos;
        return;
      }
      if (c !== 0x2c) throw DECLINE;
    }
  }

  /** A key that is not the layout's, with its `:`; declines if it could be read as one of the layout's. */
  private otherKey(layout: Layout, level: number): void {
    const quote = QUOTES[level]!;
    if (!this.quoteAt(level, this.pos)) throw DECLINE;
    const open = this.pos + quote.length;
    const stop = level === 0 ? Q : BS;
    let close = open;
    for (; close < this.end && this.buf[close] !== stop; close++) {
      const c = this.buf[close]!;
      if (c < 0x20 || c > 0x7e || c === Q || c === BS) throw DECLINE;
    }
    if (!this.quoteAt(level, close) || !layout.passes(this.buf, open, close)) throw DECLINE;
    this.pos = close + quote.length;
    if (this.byte(this.pos++) !== 0x3a) throw DECLINE;
  }

  /** Passes over any JSON value at `pos` at string-nesting `level`, checking it as JSON.parse would. */
  private skip(level: number, depth: number): void {
    const c = this.byte(this.pos);
    if (c !== 0x7b && c !== 0x5b) {
      this.value(SKIP, level);
      return;
    }
    if (depth >= MAX_DEPTH) throw DECLINE;
    const close = c === 0x7b ? 0x7d : 0x5d;
    this.pos++;
    if (this.byte(this.pos) === close) {
      this.pos++;
      return;
    }
    for (;;) {
      if (c === 0x7b) {
        // Any key: a plain string at this level.
        if (this.byte(this.pos) !== (level === 0 ? Q : BS)) throw DECLINE;
        this.value(SKIP, level);
        if (this.byte(this.pos++) !== 0x3a) throw DECLINE;
      }
      this.skip(level, depth + 1);
      const next = this.byte(this.pos++);
      if (next === close) return;
      if (next !== 0x2c) throw DECLINE;
    }
  }

  /** A nested object: an object, a JSON string holding one (a level deeper), or null, "" or "-" (none). */
  private nested(layout: Layout, level: number): void {
    const c = this.byte(this.pos);
    if (c === 0x7b) {
      this.object(layout, level);
      return;
    }
    if (c === 0x6e) {
      this.literal(NULL_BYTES);
      return;
    }
    const quote = QUOTES[level]!;
    if (!this.quoteAt(level, this.pos)) throw DECLINE;
    this.pos += quote.length;
    const inner = this.byte(this.pos);
    if (inner === 0x7b && level < MAX_LEVEL) this.object(layout, level + 1);
    else if (inner === 0x2d) this.pos++;
    if (!this.quoteAt(level, this.pos)) throw DECLINE;
    this.pos += quote.length;
  }

  private literal(literal: Uint8Array): void {
    if (!this.holds(literal, this.pos)) throw DECLINE;
    this.pos += literal.length;
  }

  /** A scalar at `pos`: noted in the field `slot` as JSON.parse would give it, or only checked when slot is SKIP. */
  private value(slot: number, level: number): void {
    const c = this.byte(this.pos);
    let kind: number;
    if (c === (level === 0 ? Q : BS)) {
      this.string(slot, level);
      return;
    } else if (c === 0x6e) {
      this.literal(NULL_BYTES);
      kind = NULL;
    } else if (c === 0x74) {
      this.literal(TRUE_BYTES);
      kind = TRUE;
    } else if (c === 0x66) {
      this.literal(FALSE_BYTES);
      kind = FALSE;
    } else {
      this.readNumber(slot);
      return;
    }
    if (slot !== SKIP) this.kind[slot] = kind;
  }

  private string(slot: number, level: number): void {
    const buf = this.buf;
    const end = this.end;
    const quote = QUOTES[level]!;
    // NOTE: value() has seen the first byte of the quote: at level 0 the whole of it.
    if (level > 0 && !this.quoteAt(level, this.pos)) throw DECLINE;
    const open = this.pos + quote.length;
    if (slot !== SKIP && this.inPlace(slot, open, level)) return;
    let close = this.plain(open);
    let escaped = 0;
    if (level === 0) {
      while (close < end && buf[close] === BS) {
        close = this.plain(this.escape(close));
        escaped = 1;
      }
      if (close >= end || buf[close] !== Q) throw DECLINE;
    } else if (!this.quoteAt(level, close)) {
      // A string inside a string holds no backslash of its own: its first one starts its closing quote
      // (and a raw `"` would have ended the enclosing top-level string).
      throw DECLINE;
    }
    this.pos = close + quote.length;
    if (slot !== SKIP) this.note(slot, open, close, escaped);
  }

  /** Notes that field `slot` is the string whose bytes (between its quotes) are buf[open, close). */
  private note(slot: number, open: number, close: number, escaped: number): void {
    this.kind[slot] = STRING;
    this.from[slot] = open;
    this.to[slot] = close;
    this.escaped[slot] = escaped;
  }

  /** The device id and times, read in place when they have the usual form (no other byte to check). */
  private inPlace(slot: number, open: number, level: number): boolean {
    const quote = QUOTES[level]!.length;
    if (slot === DEVICE_ID) {
      if (!this.quoteAt(level, open + 40) || !hexId(this.buf, open, this.words)) return false;
      this.kind[slot] = HEX;
      this.pos = open + 40 + quote;
      return true;
    }
    if (IS_TIME[slot] === 0 || !this.quoteAt(level, open + 20) || !this.time(slot, open)) return false;
    this.kind[slot] = TIME;
    this.pos = open + 20 + quote;
    return true;
  }

  /**
   * The first position from `at` of a quote, a backslash or a control character (the line's end if
   * none), four bytes at a time: m flags the bytes of w that are a quote (a zero byte of w ^ 0x22…),
   * a backslash (of w ^ 0x5c…) or below 0x20. Each test may flag bytes above a true one, never below
   * it, so m's lowest flag is the first such byte.
   */
  private plain(at: number): number {
    const view = this.view;
    const end = this.end;
    let i = at;
    for (; i + 4 <= end; i += 4) {
      const w = view.getInt32(i, true);
      const q = w ^ 0x22222222;
      const b = w ^ 0x5c5c5c5c;
      const m = (((q - 0x01010101) & ~q) | ((b - 0x01010101) & ~b) | ((w - 0x20202020) & ~w)) & 0x80808080;
      if (m !== 0) return i + ((31 - Math.clz32(m & -m)) >> 3);
    }
    const buf = this.buf;
    while (i < end && PLAIN[buf[i]!] === 1) i++;
    return i;
  }

  /** The escape sequence at `at` (its backslash), checked as JSON.parse would; returns the position after it. */
  private escape(at: number): number {
    const c = this.byte(at + 1);
    if (c === 0x75) {
      for (let i = at + 2; i < at + 6; i++) if (i >= this.end || HEX_DIGIT[this.buf[i]!]! < 0) throw DECLINE;
      return at + 6;
    }
    // " \ / b f n r t
    if (c === Q || c === BS || c === 0x2f || c === 0x62 || c === 0x66 || c === 0x6e || c === 0x72 || c === 0x74) return at + 2;
    throw DECLINE;
  }

  /** A JSON number at `pos`, checked digit by digit; its value noted when slot is not SKIP. */
  private readNumber(slot: number): void {
    const start = this.pos;
    const negative = this.byte(start) === 0x2d;
    let i = negative ? start + 1 : start;
    const first = this.byte(i);
    if (first === 0x30) i++;
    else if (first >= 0x31 && first <= 0x39) i = this.digits(i + 1);
    else throw DECLINE;
    const integerEnd = i;
    if (this.byte(i) === 0x2e) {
      const after = this.digits(i + 1);
      if (after === i + 1) throw DECLINE;
      i = after;
    }
    const e = this.byte(i);
    if (e === 0x65 || e === 0x45) {
      i++;
      const sign = this.byte(i);
      if (sign === 0x2b || sign === 0x2d) i++;
      const after = this.digits(i);
      if (after === i) throw DECLINE;
      i = after;
    }
    this.pos = i;
    if (slot === SKIP) return;
    this.kind[slot] = NUMBER;
    const from = negative ? start + 1 : start;
    if (i === integerEnd && i - from <= 15) {
      // Up to 15 digits are exact in a double, as JSON.parse reads them.
      let value = 0;
      for (let k = from; k < i; k++) value = value * 10 + (this.buf[k]! - 0x30);
      this.number[slot] = negative ? -value : value;
    } else {
      this.number[slot] = Number(this.buf.toString("latin1", start, i));
    }
  }

  /** The position after the decimal digits from `at`. */
  private digits(at: number): number {
    const buf = this.buf;
    let i = at;
    while (i < this.end && buf[i]! >= 0x30 && buf[i]! <= 0x39) i++;
    return i;
  }

  /** Reads `YYYY-MM-DDTHH:MM:SSZ` at `at` into number[slot] as Date.parse would; false for anything else. */
  private time(slot: number, at: number): boolean {
    const b = this.buf;
    if (b[at + 4] !== 0x2d || b[at + 7] !== 0x2d || b[at + 10] !== 0x54 || b[at + 13] !== 0x3a || b[at + 16] !== 0x3a || b[at + 19] !== 0x5a) return false;
    // Each number from the four bytes at its place, of which digits2 reads two (the line goes on: the
    // seconds' four end on the closing quote).
    const view = this.view;
    const year = digits4(view.getInt32(at, true));
    const month = digits2(view.getInt32(at + 5, true));
    const day = digits2(view.getInt32(at + 8, true));
    const hour = digits2(view.getInt32(at + 11, true));
    const minute = digits2(view.getInt32(at + 14, true));
    const second = digits2(view.getInt32(at + 17, true));
    // Date.parse takes any day up to 31 (rolling over into the next month), as Date.UTC does.
    if (year < 1970 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return false;
    this.number[slot] = epochMs(year, month, day, hour, minute, second);
    return true;
  }

  /** Packs the fields as DeviceSet.add packs the normalised record; false when the device id is unusable. */
  private pack(): boolean {
    if (this.kind[DEVICE_ID] !== HEX) {
      const id = this.kind[DEVICE_ID] === STRING ? this.textOf(DEVICE_ID) : null;
      if (id === null) return false;
      this.name = id;
    }
    // NOTE: value ids in the order DeviceSet.add takes them, so that both paths number values alike.
    const ints = this.ints;
    ints[OS_PLATFORM] = this.valueId(OS_PLATFORM_F);
    // avMode is "" when missing, every other field null (as normalise reads them).
    const mode = this.valueId(AV_MODE_F);
    ints[AV_MODE] = mode >= 0 ? mode : this.values.id("");
    ints[RBAC_GROUP] = this.group();
    ints[CLOUD_PROTECTION] = this.valueId(CLOUD_F);
    ints[SIGNATURE_VERSION] = this.valueId(SIGNATURE_VERSION_F);
    ints[ENGINE_VERSION] = this.valueId(ENGINE_VERSION_F);
    ints[PLATFORM_VERSION] = this.valueId(PLATFORM_VERSION_F);
    ints[QUICK_RESULT] = this.valueId(QUICK_STATUS_F);
    ints[FULL_RESULT] = this.valueId(FULL_STATUS_F);
    ints[FLAGS] = packFlags(
      this.flagsOf(SIGNATURE_UP_F) & UP_TO_DATE,
      this.flagsOf(ENGINE_UP_F) & UP_TO_DATE,
      this.flagsOf(PLATFORM_UP_F) & UP_TO_DATE,
      ((this.flagsOf(QUICK_STATUS_F) & STATUS_FAILED) | (this.flagsOf(QUICK_ERROR_F) & ERROR_FAILED)) !== 0,
      ((this.flagsOf(FULL_STATUS_F) & STATUS_FAILED) | (this.flagsOf(FULL_ERROR_F) & ERROR_FAILED)) !== 0,
    );
    const times = this.times;
    times[REFRESHED] = this.timeOf(TIMESTAMP_F);
    times[LAST_SEEN] = this.timeOf(LAST_SEEN_F);
    const updated = this.timeOf(SIGNATURE_UPDATE_F);
    times[SIGNATURE_TIME] = Number.isNaN(updated) ? this.timeOf(SIGNATURE_PUBLISH_F) : updated;
    return true;
  }

  /** The entry of a STRING field in the texts seen (see Texts), looked up once a line. */
  private entry(slot: number): number {
    if (this.kind[slot] === STRING) {
      const entry = this.texts.entry(this.buf, this.view, this.from[slot]!, this.to[slot]!, this.escaped[slot] === 1, this.lastEntry[slot]!);
      this.lastEntry[slot] = entry;
      this.from[slot] = entry;
      this.kind[slot] = INTERNED;
    }
    return this.from[slot]!;
  }

  /** text(field), as normalise reads it, for the less usual kinds. */
  private textOf(slot: number): string | null {
    switch (this.kind[slot]) {
      case STRING:
        return text(decodeString(this.buf, this.from[slot]!, this.to[slot]!, this.escaped[slot] === 1));
      case INTERNED:
        return this.texts.text(this.from[slot]!);
      case NUMBER:
        return text(this.number[slot]);
      case TRUE:
        return "true";
      case FALSE:
        return "false";
      default:
        return null;
    }
  }

  /** The value id of text(field), as DeviceSet.add interns it. */
  private valueId(slot: number): number {
    const kind = this.kind[slot];
    if (kind === STRING) {
      // NOTE: the commonest short strings at a glance: "" (no text), and one byte (an avMode code).
      const from = this.from[slot]!;
      const length = this.to[slot]! - from;
      if (length === 0) return -1;
      if (length === 1) {
        const byte = this.buf[from]!;
        let id = this.byteIds[byte]!;
        if (id === -2) this.byteIds[byte] = id = this.values.id(this.textOf(slot));
        return id;
      }
    }
    if (kind === STRING || kind === INTERNED) return this.texts.valueId(this.entry(slot));
    return kind === NULL || kind === ABSENT ? -1 : this.values.id(this.textOf(slot));
  }

  private flagsOf(slot: number): number {
    const kind = this.kind[slot];
    if (kind === STRING && this.escaped[slot] === 0) {
      // NOTE: the commonest texts at a glance: "", "True", "False".
      const from = this.from[slot]!;
      const length = this.to[slot]! - from;
      if (length === 0) return NO_TEXT_FLAGS;
      if (length === 4 && this.view.getInt32(from, true) === TRUE_WORD) return TRUE_FLAGS;
      if (length === 5 && this.view.getInt32(from, true) === FALS_WORD && this.buf[from + 4] === 0x65) return FALSE_FLAGS;
    }
    if (kind === NULL || kind === ABSENT) return NO_TEXT_FLAGS;
    return kind === STRING || kind === INTERNED ? this.texts.flags(this.entry(slot)) : flagsOfText(this.textOf(slot));
  }

  private timeOf(slot: number): number {
    return this.kind[slot] === TIME ? this.number[slot]! : parseTime(this.textOf(slot));
  }

  private group(): number {
    // groupId of a string gives what it gives on text(string) (both trim the same whitespace).
    const id = this.kind[GROUP_ID_F] === NUMBER ? groupId(this.number[GROUP_ID_F]) : groupId(this.textOf(GROUP_ID_F));
    if (this.kind[GROUP_NAME_F] !== STRING) return this.values.id(groupKey(id, this.textOf(GROUP_NAME_F)));
    const name = this.entry(GROUP_NAME_F);
    if (id !== this.memoGroupId || name !== this.memoGroupName || this.texts.clears !== this.memoClears) {
      this.memoClears = this.texts.clears;
      this.memoGroupId = id;
      this.memoGroupName = name;
      this.memoGroup = this.values.id(groupKey(id, this.texts.text(name)));
    }
    return this.memoGroup;
  }
}

/** The text of a JSON string whose bytes (between its quotes) are buf[from, to). */
function decodeString(buf: Buffer, from: number, to: number, escaped: boolean): string {
  return escaped ? (JSON.parse(buf.toString("utf8", from - 1, to + 1)) as string) : buf.toString("utf8", from, to);
}

/**
 * What a field's text means to a device's flags, by the functions the full parse uses: upToDate (on
 * text(v), which gives what it gives on v) and isScanFailure taken apart (the result's part, the error's).
 */
function flagsOfText(value: string | null): number {
  return upToDateCode(upToDate(value)) | (isScanFailure(value, null) ? STATUS_FAILED : 0) | (isScanFailure(null, value) ? ERROR_FAILED : 0);
}

const NO_TEXT_FLAGS = flagsOfText(null);
const TRUE_FLAGS = flagsOfText("True");
const FALSE_FLAGS = flagsOfText("False");
const TRUE_WORD = new DataView(ascii("True").buffer).getInt32(0, true);
const FALS_WORD = new DataView(ascii("Fals").buffer).getInt32(0, true);

/** Distinct strings kept at most; past it the texts start afresh (a cache: slower, still exact). */
const MAX_TEXTS = 1 << 16;
const MAX_TEXT_WORDS = 1 << 20;

/**
 * String values interned by their bytes as the line holds them: bytes → an entry with text(the
 * string), its value id (interned in the ValueTable only when asked for) and its flags. Records
 * repeat a few hundred values; finding one costs a hash of its bytes and one comparison, where
 * decoding it would cost a string.
 */
class Texts {
  /** Each entry's bytes as int32 words (the last one's bytes past the string zero), from word starts[e]. */
  private arena = new Int32Array(16 * 1024);
  private used = 0;
  private count = 0;
  /** Entry + 1 (0: free), at most half full. */
  private table = new Int32Array(1024);
  private starts = new Int32Array(512);
  private lengths = new Int32Array(512);
  private hashes = new Int32Array(512);
  /** Per entry: the value id (-2: not interned yet) and flagsOfText + 1 (0: not yet). */
  private ids = new Int32Array(512);
  private flagCodes = new Uint8Array(512);
  private readonly texts: (string | null)[] = [];
  /** The words of the string being looked up. */
  private words = new Int32Array(64);
  /** Times the entries started afresh (an entry number names another string after it). */
  clears = 0;

  constructor(private readonly values: ValueTable) {}

  /**
   * The entry of the string whose bytes (between its quotes) are buf[from, to); `view` is buf's. `hint`
   * is an entry to try first (the field's last one: records of a file repeat their neighbours' values).
   */
  entry(buf: Buffer, view: DataView, from: number, to: number, escaped: boolean, hint: number): number {
    const length = to - from;
    const n = (length + 3) >> 2;
    if (hint < this.count && this.lengths[hint] === length) {
      const start = this.starts[hint]!;
      let k = 0;
      while (k < n && this.arena[start + k] === wordOf(buf, view, from + k * 4, length - k * 4)) k++;
      if (k === n) return hint;
    }
    if (n > this.words.length) this.words = new Int32Array(n * 2);
    const words = this.words;
    let hash = Math.imul(length, 0x9e3779b1);
    for (let k = 0; k < n; k++) {
      const word = wordOf(buf, view, from + k * 4, length - k * 4);
      words[k] = word;
      hash = rotate(Math.imul(hash ^ word, 0x85ebca6b));
    }
    hash ^= hash >>> 15;
    const table = this.table;
    const mask = table.length - 1;
    let at = hash & mask;
    for (let entry = table[at]!; entry !== 0; at = (at + 1) & mask, entry = table[at]!) {
      if (this.hashes[entry - 1] === hash && this.holds(entry - 1, length, n)) return entry - 1;
    }
    if (this.count === MAX_TEXTS || this.used + n > MAX_TEXT_WORDS) {
      this.clear();
      at = hash & (this.table.length - 1);
    }
    return this.add(length, n, hash, at, text(decodeString(buf, from, to, escaped)));
  }

  /** Whether entry `e` is the string of `length` bytes, `n` words, in `words`. */
  private holds(e: number, length: number, n: number): boolean {
    if (this.lengths[e] !== length) return false;
    const start = this.starts[e]!;
    for (let k = 0; k < n; k++) if (this.arena[start + k] !== this.words[k]) return false;
    return true;
  }

  text(entry: number): string | null {
    return this.texts[entry]!;
  }

  valueId(entry: number): number {
    let id = this.ids[entry]!;
    if (id === -2) this.ids[entry] = id = this.values.id(this.texts[entry]!);
    return id;
  }

  flags(entry: number): number {
    let code = this.flagCodes[entry]!;
    if (code === 0) this.flagCodes[entry] = code = flagsOfText(this.texts[entry]!) + 1;
    return code - 1;
  }

  private add(length: number, n: number, hash: number, at: number, value: string | null): number {
    if (this.used + n > this.arena.length) this.arena = grown(this.arena, Math.max(this.arena.length * 2, this.used + n));
    this.arena.set(this.words.subarray(0, n), this.used);
    const e = this.count++;
    if (e === this.starts.length) {
      this.starts = grown(this.starts, e * 2);
      this.lengths = grown(this.lengths, e * 2);
      this.hashes = grown(this.hashes, e * 2);
      this.ids = grown(this.ids, e * 2);
      this.flagCodes = grown(this.flagCodes, e * 2);
    }
    this.starts[e] = this.used;
    this.lengths[e] = length;
    this.hashes[e] = hash;
    this.ids[e] = -2;
    this.flagCodes[e] = 0;
    this.texts[e] = value;
    this.used += n;
    this.table[at] = e + 1;
    if (this.count * 2 > this.table.length) this.rehash();
    return e;
  }

  private rehash(): void {
    const table = new Int32Array(this.table.length * 2);
    const mask = table.length - 1;
    for (let e = 0; e < this.count; e++) {
      let at = this.hashes[e]! & mask;
      while (table[at] !== 0) at = (at + 1) & mask;
      table[at] = e + 1;
    }
    this.table = table;
  }

  private clear(): void {
    this.clears++;
    this.count = 0;
    this.used = 0;
    this.texts.length = 0;
    this.table.fill(0);
  }
}

const TAIL_MASKS = Int32Array.of(0, 0xff, 0xffff, 0xffffff);

/** Four bytes from `at` as an int32 (little-endian), of which only `rest` belong to the string: the others zero. */
function wordOf(buf: Buffer, view: DataView, at: number, rest: number): number {
  if (rest >= 4) return view.getInt32(at, true);
  if (at + 4 <= buf.length) return view.getInt32(at, true) & TAIL_MASKS[rest]!;
  let word = 0;
  for (let i = rest - 1; i >= 0; i--) word = (word << 8) | buf[at + i]!;
  return word;
}

function rotate(h: number): number {
  return (h << 13) | (h >>> 19);
}

function grown<T extends Uint8Array | Int32Array>(array: T, length: number): T {
  const next = new (array.constructor as new (length: number) => T)(length);
  next.set(array);
  return next;
}

/**
 * Date.UTC(year, month - 1, day, hour, minute, second) for years from 1970, in integer arithmetic (the
 * days-from-civil count of the proleptic Gregorian calendar; a day past the month's end rolls over alike).
 */
function epochMs(year: number, month: number, day: number, hour: number, minute: number, second: number): number {
  // NOTE: every operand is a small non-negative integer here, so `| 0` is Math.floor (and cheaper).
  const y = month <= 2 ? year - 1 : year;
  const era = (y / 400) | 0;
  const yearOfEra = y - era * 400;
  const dayOfYear = (((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) | 0) + day - 1;
  const days = era * 146097 + yearOfEra * 365 + (yearOfEra >> 2) - ((yearOfEra / 100) | 0) + dayOfYear - 719468;
  return ((days * 24 + hour) * 60 + minute) * 60000 + second * 1000;
}

/**
 * The number written by the four bytes of little-endian `word` as decimal digits, -1 if one is not a
 * digit. d holds each byte's value less 0x30; a byte is a digit when neither d nor 9 - d leaves its
 * 0..9 range, and the lowest byte that is not one always shows in the high nibbles (a borrow only
 * moves up).
 */
function digits4(word: number): number {
  const d = word - 0x30303030;
  if (((d | (0x09090909 - d)) & 0xf0f0f0f0) !== 0) return -1;
  return (d & 0xff) * 1000 + ((d >> 8) & 0xff) * 100 + ((d >> 16) & 0xff) * 10 + ((d >> 24) & 0xff);
}

/** The same for the first two bytes of `word`. */
function digits2(word: number): number {
  const d = (word & 0xffff) - 0x3030;
  if (((d | (0x0909 - d)) & 0xf0f0) !== 0) return -1;
  return (d & 0xff) * 10 + ((d >> 8) & 0xff);
}
