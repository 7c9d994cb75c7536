import { createHash } from "node:crypto";

/**
 * RowKeys of DeviceHealthDaily: `<dimension>|<value>`, escaped so that any value is a legal key.
 *
 * Escaped as `~XX` (two upper-case hex digits of the code unit): the characters Table Storage forbids
 * in keys (`/ \ # ?`, U+0000–U+001F, U+007F–U+009F); `%` and `'`, which it accepts but which break
 * some of its point operations and batch deletes (and Azurite's) once the key sits in a request URL;
 * and the escape `~` itself. A lone surrogate is escaped as `~uXXXX` so the key is valid UTF-16 on
 * the wire. `|` is escaped in the dimension only: the first `|` separates the two parts.
 *
 * `~` rather than `%` as the escape: `%` is exactly one of the characters that break.
 *
 * Keys are at most 512 UTF-16 code units (1 KiB, Table Storage's limit, and what Azurite checks) and
 * at most 1 KiB of UTF-8. A longer value is cut on a character boundary and ends in `~~` plus 16 hex
 * digits of its SHA-256: such a key is not reversible (decodeRowKey says `truncated`), but stays
 * unique and stable; the row's `Value` property carries the text.
 */
const ESCAPED = /[\u0000-\u001f\u007f-\u009f/\\#?%'~]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const ESCAPED_IN_DIMENSION = /[\u0000-\u001f\u007f-\u009f/\\#?%'~|]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const ESCAPE_SEQUENCE = /~(?:([0-9A-F]{2})|u([0-9A-F]{4}))/g;
const TRUNCATED = /~~([0-9a-f]{16})$/;

export const MAX_KEY_CHARS = 512;
export const MAX_KEY_UTF8_BYTES = 1024;
const HASH_SUFFIX_CHARS = 2 + 16;

function escapeChar(ch: string): string {
  const code = ch.charCodeAt(0);
  return code <= 0xff ? `~${hex(code, 2)}` : `~u${hex(code, 4)}`;
}

function hex(code: number, digits: number): string {
  return code.toString(16).toUpperCase().padStart(digits, "0");
}

function escapeKeyPart(value: string): string {
  return value.replace(ESCAPED, escapeChar);
}

function unescapeKeyPart(text: string): string {
  return text.replace(ESCAPE_SEQUENCE, (_, byte: string | undefined, unit: string | undefined) =>
    String.fromCharCode(parseInt(byte ?? unit ?? "", 16)),
  );
}

function fits(key: string): boolean {
  return key.length <= MAX_KEY_CHARS && Buffer.byteLength(key, "utf8") <= MAX_KEY_UTF8_BYTES;
}

/** The RowKey of a (dimension, value) row. */
export function encodeRowKey(dimension: string, value: string): string {
  const prefix = `${dimension.replace(ESCAPED_IN_DIMENSION, escapeChar)}|`;
  const key = prefix + escapeKeyPart(value);
  if (fits(key)) return key;
  if (!fits(prefix + "x".repeat(HASH_SUFFIX_CHARS))) throw new RangeError(`Dimension name is too long for a RowKey: "${dimension.slice(0, 80)}…"`);
  const suffix = `~~${createHash("sha256").update(value, "utf8").digest("hex").slice(0, 16)}`;
  // Whole characters (code points), each escaped, while the key still fits with the suffix.
  let cut = prefix;
  for (const ch of value) {
    const next = cut + escapeKeyPart(ch);
    if (!fits(next + suffix)) break;
    cut = next;
  }
  return cut + suffix;
}

export interface DecodedRowKey {
  dimension: string;
  value: string;
  /** The value was cut to fit (see encodeRowKey): `value` is its beginning only. */
  truncated: boolean;
}

export function decodeRowKey(key: string): DecodedRowKey {
  const bar = key.indexOf("|");
  if (bar < 0) throw new Error(`Not a DeviceHealthDaily RowKey (no "|"): "${key.slice(0, 80)}"`);
  const rest = key.slice(bar + 1);
  const truncated = TRUNCATED.test(rest);
  return {
    dimension: unescapeKeyPart(key.slice(0, bar)),
    value: unescapeKeyPart(truncated ? rest.replace(TRUNCATED, "") : rest),
    truncated,
  };
}
