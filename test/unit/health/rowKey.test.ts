import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeRowKey, encodeRowKey, MAX_KEY_CHARS, MAX_KEY_UTF8_BYTES } from "../../../shared/health/rowKey.js";

/** What Table Storage refuses in a key, plus what we also escape because some of its APIs mishandle it. */
const FORBIDDEN = /[/\\#?\u0000-\u001f\u007f-\u009f]/;
const MISHANDLED = /[%']/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const anyUtf16 = fc.string({ unit: fc.nat(0xffff).map((c) => String.fromCharCode(c)), maxLength: 80 });
const anyText = fc.oneof(fc.string({ unit: "binary", maxLength: 80 }), anyUtf16, fc.string({ unit: fc.constantFrom("/", "\\", "#", "?", "%", "'", "~", "|", "\u0000", "\u007f", "\u0085", "a", "é", "😀"), maxLength: 40 }));

function checkKey(key: string): void {
  expect(key).not.toMatch(FORBIDDEN);
  expect(key).not.toMatch(MISHANDLED);
  expect(key).not.toMatch(LONE_SURROGATE);
  expect(key.length).toBeLessThanOrEqual(MAX_KEY_CHARS);
  expect(Buffer.byteLength(key, "utf8")).toBeLessThanOrEqual(MAX_KEY_UTF8_BYTES);
}

describe("encodeRowKey / decodeRowKey", () => {
  it("leaves ordinary values readable", () => {
    expect(encodeRowKey("rbacGroup", "Servers-EU (412)")).toBe("rbacGroup|Servers-EU (412)");
    expect(encodeRowKey("avSignatureVersion", "1.421.123.0")).toBe("avSignatureVersion|1.421.123.0");
    expect(encodeRowKey("lastSeen", ">30d")).toBe("lastSeen|>30d");
    expect(encodeRowKey("osPlatform", "(none)")).toBe("osPlatform|(none)");
  });

  it("escapes the forbidden characters, % ' and the escape itself as ~XX", () => {
    expect(encodeRowKey("rbacGroup", "EU/West\\#1?")).toBe("rbacGroup|EU~2FWest~5C~231~3F");
    expect(encodeRowKey("rbacGroup", "100% O'Brien ~")).toBe("rbacGroup|100~25 O~27Brien ~7E");
    expect(encodeRowKey("rbacGroup", "tab\there\u0000\u007f\u009f")).toBe("rbacGroup|tab~09here~00~7F~9F");
  });

  it("keeps | in a value but escapes it in the dimension, so the first | separates", () => {
    expect(encodeRowKey("osPlatform", "a|b")).toBe("osPlatform|a|b");
    expect(decodeRowKey("osPlatform|a|b")).toEqual({ dimension: "osPlatform", value: "a|b", truncated: false });
    expect(decodeRowKey(encodeRowKey("x|y", "z"))).toEqual({ dimension: "x|y", value: "z", truncated: false });
  });

  it("escapes a lone surrogate as ~uXXXX and keeps pairs as they are", () => {
    expect(encodeRowKey("d", "a\ud800b😀")).toBe("d|a~uD800b😀");
    expect(decodeRowKey("d|a~uD800b😀").value).toBe("a\ud800b😀");
  });

  it("round-trips any string, and never produces a character Table Storage refuses", () => {
    fc.assert(
      fc.property(fc.constantFrom("all", "rbacGroup", "osPlatform"), anyText, (dimension, value) => {
        const key = encodeRowKey(dimension, value);
        checkKey(key);
        expect(decodeRowKey(key)).toEqual({ dimension, value, truncated: false });
      }),
      { numRuns: 2000 },
    );
  });

  it("gives distinct values distinct keys", () => {
    fc.assert(
      fc.property(anyText, anyText, (a, b) => {
        fc.pre(a !== b);
        expect(encodeRowKey("d", a)).not.toBe(encodeRowKey("d", b));
      }),
    );
  });

  it("cuts an absurdly long value to fit 1 KiB, with a hash that keeps keys apart", () => {
    const long = "G".repeat(2000);
    const key = encodeRowKey("rbacGroup", long);
    checkKey(key);
    const decoded = decodeRowKey(key);
    expect(decoded.truncated).toBe(true);
    expect(long.startsWith(decoded.value)).toBe(true);
    expect(decoded.value.length).toBeGreaterThan(400);
    expect(encodeRowKey("rbacGroup", `${long}x`)).not.toBe(key);
    expect(encodeRowKey("rbacGroup", long)).toBe(key);
  });

  it("cuts long values of any characters on a character boundary, within both limits", () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom("a", "€", "😀", "/", "\u0001", "\ud800"), minLength: 300, maxLength: 1500 }), (value) => {
        const key = encodeRowKey("avEngineVersion", value);
        checkKey(key);
        const decoded = decodeRowKey(key);
        expect(value.startsWith(decoded.value)).toBe(true);
        if (!decoded.truncated) expect(decoded.value).toBe(value);
      }),
      { numRuns: 300 },
    );
  });

  it("refuses to decode a key without a separator", () => {
    expect(() => decodeRowKey("nobar")).toThrow(/no "\|"/);
  });
});
