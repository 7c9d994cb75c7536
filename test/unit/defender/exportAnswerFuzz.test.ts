/*
 * Property-based fuzz of what the export answer may carry (issue 7, "bad input beyond faults"):
 * hostile export URLs against validateExportUrl, checked by an oracle of its own written here without
 * the URL parser, and hostile answer shapes against DefenderClient.infoGatheringExport (a stubbed
 * fetch: no I/O). Neither ever throws anything but its documented error, and no SAS reaches a message.
 *
 * fast-check prints the seed and path of a failure: pass them as `{ seed, path }` in that
 * fc.assert's parameters to replay it.
 */
import type { TokenCredential } from "@azure/identity";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DefenderClient } from "../../../shared/defender/client.js";
import { validateExportUrl } from "../../../shared/defender/exportUrl.js";
import { DefenderApiError, ExportFileError } from "../../../shared/errors.js";
import { MemoryLogger } from "../../../shared/log.js";

// ---- The oracle -------------------------------------------------------------------------------

const BLOB_HOST = /^[a-z0-9]{3,24}\.blob\.core\.(?:windows\.net|usgovcloudapi\.net)$/;
const LOOPBACK_V4 = /^127\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;
const DOT = /^(?:\.|%2e)$/i;
const DOT_DOT = /^(?:\.|%2e){2}$/i;

/**
 * The validator's documented rule, read from the URL as written (no URL parser): an absolute
 * `https://` URL, no user info, the host exactly `<account>.blob.core.windows.net` or
 * `<account>.blob.core.usgovcloudapi.net` (3-24 lower-case letters and digits, any ASCII letter
 * case) on the default port; with `allowLoopback` also http(s) on localhost, 127.x.y.z written plainly
 * or [::1], any port. Nowhere whitespace, a control character or a backslash; no fragment; a
 * container and a blob in the path once its dot segments are resolved.
 */
function oracleAccepts(url: string, allowLoopback: boolean): boolean {
  if (/[\s\\\u0000-\u001f\u007f]/.test(url)) return false;
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/is.exec(url);
  if (m === null) return false;
  const [, scheme, authority, path, , fragment] = m as unknown as [string, string, string, string, string?, string?];
  // NOTE: an empty fragment ("#" and nothing after it) is no fragment to the validator; accepted here too.
  if (fragment !== undefined && fragment !== "#") return false;
  if (/[^\x21-\x7e]/.test(authority) || authority.includes("@")) return false;
  const hostPort = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(authority);
  if (hostPort === null) return false;
  const host = hostPort[1]!.toLowerCase();
  const port = hostPort[2];
  const protocol = scheme.toLowerCase();
  let hostOk: boolean;
  if (BLOB_HOST.test(host)) {
    hostOk = protocol === "https" && (port === undefined || port === "" || /^0*443$/.test(port));
  } else {
    const v4 = LOOPBACK_V4.exec(host);
    const loopback = host === "localhost" || host === "[::1]" || (v4 !== null && v4.slice(1).every((n) => Number(n) <= 255));
    hostOk = allowLoopback && loopback && (protocol === "http" || protocol === "https") && (port === undefined || port === "" || Number(port) <= 65535);
  }
  return hostOk && segments(path) >= 2;
}

/** Non-empty path segments once `.` and `..` (percent-encoded or not) are resolved. */
function segments(path: string): number {
  const stack: string[] = [];
  const parts = path.split("/").slice(1);
  parts.forEach((part, i) => {
    if (DOT_DOT.test(part)) stack.pop();
    if (DOT.test(part) || DOT_DOT.test(part)) {
      if (i === parts.length - 1) stack.push("");
      return;
    }
    stack.push(part);
  });
  return stack.filter((s) => s !== "").length;
}

// ---- Hostile URLs -----------------------------------------------------------------------------

const sig = fc.stringMatching(/^[A-Za-z0-9]{20,40}$/).map((s) => `Sig${s}%3D`);
const query = fc.oneof(
  { weight: 4, arbitrary: sig.map((s) => `?sv=2021-08-06&se=2026-12-01T08%3A00%3A00Z&sr=b&sp=r&sig=${s}`) },
  { weight: 1, arbitrary: sig.map((s) => `?sig=${s}&sv=2021-08-06`) },
  { weight: 1, arbitrary: fc.constantFrom("", "?") },
);
const account = fc.oneof(
  { weight: 6, arbitrary: fc.stringMatching(/^[a-z0-9]{3,24}$/) },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9]{3,24}$/) },
  { weight: 2, arbitrary: fc.oneof(fc.stringMatching(/^[a-z0-9]{0,2}$/), fc.stringMatching(/^[a-z0-9]{25,40}$/), fc.stringMatching(/^[a-z0-9-]{3,24}$/)) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "xn--tvmexport-9db", "tvm\u212Aexport", "tvm\u0430export", "tvm\u0130export", "tvm\u017Fexport", "\uFF54vmexport", "tvmexport\u200B", "tvm\u00ADexport",
      "tvm%65xport", "tvm export", "a.b", "tvm_export", "tvm\u0000export",
    ),
  },
);
const suffix = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(".blob.core.windows.net", ".blob.core.usgovcloudapi.net", ".BLOB.Core.Windows.NET") },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      ".blob.core.windows.net.", ".blob.core.windows.net.evil.example", ".blob.core.windows.net%2eevil.example", ".blob.core.windows%2enet",
      ".blob.core.chinacloudapi.cn", ".file.core.windows.net", ".dfs.core.windows.net", ".blob.core.windows.com", ".blob\u3002core.windows.net",
      ".blob\uFF0Ecore.windows.net", ".blob.core.windows.net\u3002", ".blob.core.windows.net@evil.example", ".blob.core.windows.net:443@evil.example",
      ".blob.core.windows.net\\@evil.example", "", ".blob.core.windows.net#", ".blob.core.windows.net?", ".blob.core.windows.net;evil", ".blob.core.windows.net&x",
      ".blob.core.windows.net\u0000.evil.example", ".blob.core.usgovcloudapi.net.evil.example", ".blob.core.windows.n\u0435t",
    ),
  },
);
const otherHost = fc.constantFrom(
  "evil.example", "127.0.0.1", "127.8.9.10", "127.1", "127.0.0.01", "127.255.255.255", "127.256.0.1", "2130706433", "0x7f.0.0.1", "0177.0.0.1", "10.0.0.1",
  "20.60.1.1", "[::1]", "[0:0:0:0:0:0:0:1]", "[::ffff:127.0.0.1]", "[2001:db8::1]", "[::1%25lo]", "[::1", "localhost", "LOCALHOST", "localhost.", "localhost.evil.example",
  "evil.example#.blob.core.windows.net", "xn--80ak6aa92e.com", "\u0430pple.com", "", "%6c%6fcalhost", "127.0.0.1.nip.io", "loc\u0430lhost",
);
const host = fc.oneof({ weight: 3, arbitrary: fc.tuple(account, suffix).map(([a, s]) => a + s) }, { weight: 1, arbitrary: otherHost });
const userinfo = fc.oneof(
  { weight: 6, arbitrary: fc.constant("") },
  { weight: 1, arbitrary: fc.constantFrom("user@", "u:p@", "evil.example@", "tvmexport.blob.core.windows.net@", ":@", "@", "%40@", "u%3Ap@", "127.0.0.1@") },
);
const port = fc.oneof(
  { weight: 6, arbitrary: fc.constant("") },
  { weight: 2, arbitrary: fc.constantFrom(":", ":443", ":0443", ":8443", ":80", ":10000", ":65535", ":65536", ":-1", ":abc", ":443 ", ": 443", ":4\u00343") },
);
const scheme = fc.oneof(
  { weight: 8, arbitrary: fc.constant("https://") },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      "http://", "HTTPS://", "HtTpS://", "ftp://", "wss://", "file://", "//", "https:/", "https:", "https:///", "https:\\\\", "javascript:", "javascript://",
      "data:text/html,", "blob:https://", " https://", "https ://", "https\t://", "h\u0074tps://", "\uFF48ttps://",
    ),
  },
);
const path = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom("/c/b.json.gz", "/temp-0b5c/2026-12-01/0200/InfoGatheringExport/json/OrgId=o1/_RbacGroupId=12/part-00010-ab.c000.json.gz") },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      "/", "", "/c", "/c/", "//c//b", "/c/../b", "/c/./b", "/%2e%2e/c/b", "/c/%2e%2E", "/c/b/..", "/c%2Fb", "\\c\\b", "/c/b with space", "/c/\u00e9/b", "/c/b%00",
      "/c/b%zz", "/./c", "/c//..", `/c/${"a".repeat(10_000)}`, "/c/b;sig=notASas",
    ),
  },
  { weight: 1, arbitrary: fc.webPath() },
);
const fragment = fc.oneof({ weight: 8, arbitrary: fc.constant("") }, { weight: 1, arbitrary: fc.constantFrom("#", "#x", "#.blob.core.windows.net", "#?sig=x") });
const junk = fc.constantFrom(" ", "\t", "\n", "\r", "\u0000", "\u007f", "\u00a0", "\u2028", "\ufeff", "\u200b", "\u00ad", "\\", "@", "#", "?", "%", ":", ".", "/", "[", "\u212A");

interface HostileUrl {
  url: string;
  /** The SAS signature value in the URL's query, when it has one. */
  sig?: string;
}

const builtUrl: fc.Arbitrary<HostileUrl> = fc
  .tuple(scheme, userinfo, host, port, path, query, fragment, fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.tuple(junk, fc.nat()) }))
  .map(([s, u, h, p, pa, q, f, insert]) => {
    let url = s + u + h + p + pa + q + f;
    if (insert !== null) {
      const at = insert[1] % (url.length + 1);
      url = url.slice(0, at) + insert[0] + url.slice(at);
    }
    return hostile(url);
  });

/** The URL, and the SAS signature in its query when it has one. */
function hostile(url: string): HostileUrl {
  const sasSig = /[?&]sig=([^&#]{8,})/.exec(queryOf(url));
  return sasSig === null ? { url } : { url, sig: sasSig[1] };
}

/** The query string as written: from the first "?" to the fragment; "" when the "?" is in the fragment or absent. */
function queryOf(url: string): string {
  const q = url.indexOf("?");
  const hash = url.indexOf("#");
  return q < 0 || (hash >= 0 && hash < q) ? "" : url.slice(q, hash > q ? hash : undefined);
}

const hostileUrl: fc.Arbitrary<HostileUrl> = fc.oneof(
  { weight: 12, arbitrary: builtUrl },
  { weight: 2, arbitrary: fc.webUrl({ withQueryParameters: true, withFragments: true, validSchemes: ["https", "http"] }).map((url) => ({ url })) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 80 }).map((url) => ({ url })) },
  { weight: 1, arbitrary: fc.constantFrom("", "https://", "https://a", "javascript:alert(1)", "data:,x").map((url) => ({ url })) },
  { weight: 1, arbitrary: fc.nat({ max: 100_000 }).map((n) => ({ url: `https://tvmexport.blob.core.windows.net/c/${"b".repeat(n)}` })) },
);

/** URLs in the validator's accepted form (the oracle accepts every one of them). */
const acceptedUrl: fc.Arbitrary<HostileUrl> = fc
  .tuple(
    fc.stringMatching(/^[A-Za-z0-9]{3,24}$/),
    fc.constantFrom(".blob.core.windows.net", ".blob.core.usgovcloudapi.net", ".BLOB.CORE.WINDOWS.NET"),
    fc.constantFrom("", ":443"),
    fc.array(fc.stringMatching(/^[A-Za-z0-9=_.%-]{1,12}$/).filter((s) => !DOT.test(s) && !DOT_DOT.test(s)), { minLength: 2, maxLength: 8 }),
    query,
  )
  .map(([a, s, p, parts, q]) => hostile(`https://${a}${s}${p}/${parts.join("/")}${q}`));

const loopbackUrl: fc.Arbitrary<HostileUrl> = fc
  .tuple(
    fc.constantFrom("http://", "https://"),
    fc.oneof(fc.constantFrom("localhost", "[::1]"), fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255)).map(([a, b, c]) => `127.${a}.${b}.${c}`)),
    fc.oneof(fc.constant(""), fc.nat(65535).map((n) => `:${n}`)),
    query,
  )
  .map(([s, h, p, q]) => hostile(`${s}${h}${p}/devstoreaccount2/exports/part-1.json.gz${q}`));

// ---- Checks -----------------------------------------------------------------------------------

/** What validateExportUrl does with `url`: the URL it returns, or the ExportFileError it throws (anything else fails the test). */
function validate(url: string, allowLoopback: boolean): URL | ExportFileError {
  try {
    return validateExportUrl(url, { allowLoopback });
  } catch (error) {
    if (!(error instanceof ExportFileError)) throw new Error(`validateExportUrl threw ${String(error)}, not an ExportFileError, for ${JSON.stringify(url.slice(0, 200))}`);
    return error;
  }
}

/** What of the URL's SAS a text shows: its signature or its whole query string (none for a text that may be shown). */
function sasIn(text: string, { url, sig }: HostileUrl): string[] {
  const queryString = queryOf(url).slice(1);
  return [sig !== undefined && text.includes(sig) ? `the signature of ${url}` : "", queryString.includes("sig=") && text.includes(queryString) ? `the query string of ${url}` : ""].filter(Boolean);
}

function checkUrl(input: HostileUrl, allowLoopback: boolean): void {
  const result = validate(input.url, allowLoopback);
  const oracle = oracleAccepts(input.url, allowLoopback);
  if (result instanceof ExportFileError) {
    expect(oracle, `${JSON.stringify(input.url)} is rejected (${result.message}) though the rule accepts it`).toBe(false);
    expect(result.code).toBe("UrlRejected");
    expect(result.retriable).toBe(false);
    expect(result.message).toMatch(/^Export URL .* is rejected: [^.].*\. Accepted: https on <account>\.blob\.core\.windows\.net/s);
    expect(sasIn(result.message, input)).toEqual([]);
    expect(sasIn(result.file, input)).toEqual([]);
  } else {
    expect(oracle, `${JSON.stringify(input.url)} is accepted though the rule rejects it`).toBe(true);
    expect(result.href).toBe(new URL(input.url).href);
    expect(result.username + result.password + result.hash).toBe("");
    if (BLOB_HOST.test(result.hostname)) {
      expect(result.protocol).toBe("https:");
      expect(result.port).toBe("");
    } else {
      expect(allowLoopback).toBe(true);
    }
  }
}

// ---- The export answer --------------------------------------------------------------------------

const API = "https://api.security.microsoft.com";
const TOKEN = "tok-0123456789abcdef";
const credential: TokenCredential = { getToken: async () => ({ token: TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }) };

/** The client's answer to `body` (sent as is, with 200): what it resolves to, or what it rejects with. */
async function answer(body: string, allowLoopback: boolean): Promise<{ value?: unknown; error?: unknown; logs: string[] }> {
  const logger = new MemoryLogger();
  const client = new DefenderClient({
    apiBaseUrl: API,
    credential,
    scope: "https://api.securitycenter.microsoft.com/.default",
    allowLoopback,
    retryBudgetMs: 0,
    fetch: async () => new Response(body, { status: 200, headers: { "content-type": "application/json" } }),
    logger,
  });
  try {
    return { value: await client.infoGatheringExport({ sasValidHours: 6 }), logs: logger.lines };
  } catch (error) {
    return { error, logs: logger.lines };
  }
}

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * The generation time as the answer must give it: ISO 8601 date and time to the minute or second,
 * optional fraction, `Z` or an offset (none: UTC), a real calendar date; as `toISOString` gives it.
 */
function oracleTime(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?(\.\d+)?(Z|([+-])(\d{2}):?(\d{2}))?$/i.exec(value.trim());
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i] ?? 0)) as [number, number, number, number, number, number];
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = month === 2 && leap ? 29 : DAYS[month - 1];
  if (days === undefined || day < 1 || day > days || hour > 23 || minute > 59 || second > 59) return undefined;
  const offsetHours = Number(m[10] ?? 0);
  if (offsetHours > 23 || Number(m[11] ?? 0) > 59) return undefined;
  const offset = (m[9] === "-" ? -1 : 1) * (offsetHours * 60 + Number(m[11] ?? 0));
  const ms = Number((m[7] ?? ".").slice(1).padEnd(3, "0").slice(0, 3));
  const utc = new Date(0);
  utc.setUTCFullYear(year, month - 1, day);
  utc.setUTCHours(hour, minute - offset, second, ms);
  return Number.isNaN(utc.getTime()) ? undefined : utc.toISOString();
}

const goodTime = fc
  .tuple(
    fc.date({ min: new Date("2000-01-01T00:00:00Z"), max: new Date("2099-12-31T23:59:59Z"), noInvalidDate: true }),
    fc.constantFrom("Z", "", "+00:00", "-05:30", "+0100", "z"),
    fc.constantFrom("", ".1", ".123", ".1234567"),
  )
  .map(([d, zone, fraction]) => d.toISOString().slice(0, 19) + fraction + zone);
/** The generatedTime of an answer as JSON text (a deeply nested array is more than JSON.stringify can write). */
const timeJson: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: goodTime.map((t) => JSON.stringify(t)) },
  {
    weight: 4,
    arbitrary: fc.oneof(
      fc.constantFrom(
        "2026-02-30T00:00:00Z", "2026-04-31T10:00:00Z", "2025-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T23:60:00Z",
        "2026-01-01T00:00:00+24:00", "2026-12-01", "2026-12-01T02:00:00ZZ", "yesterday", "", " ", "2026-12-01 02:00:00Z", "+002026-12-01T02:00:00Z",
        "2026-12-01T02:00:00.Z", "１２", "2026-12-01T02:00:00\u0000Z",
      ).map((t) => JSON.stringify(t)),
      fc.string({ maxLength: 30 }).map((t) => JSON.stringify(t)),
      fc.constantFrom(null, 0, 1_796_083_837_000, true, [], {}, ["2026-12-01T02:00:00Z"], { value: "2026-12-01T02:00:00Z" }).map((v) => JSON.stringify(v)),
      fc.integer({ min: 10, max: 20_000 }).map((n) => "[".repeat(n) + "]".repeat(n)),
      fc.constant(JSON.stringify("2026-12-01T02:00:00Z".padEnd(1_000_000, "0"))),
    ),
  },
);

/** One entry of exportFiles: a URL the oracle accepts or not, or no string at all. */
const fileEntry = fc.oneof(
  { weight: 6, arbitrary: acceptedUrl },
  { weight: 2, arbitrary: hostileUrl },
  { weight: 1, arbitrary: loopbackUrl },
  { weight: 1, arbitrary: fc.constantFrom(null, 42, true, {}, [], ["https://a.blob.core.windows.net/c/b"], { url: "x" }).map((value) => ({ value })) },
);
type FileEntry = HostileUrl | { value: unknown };
const entryValue = (e: FileEntry): unknown => ("value" in e ? e.value : e.url);

const filesValue = fc.oneof(
  { weight: 8, arbitrary: fc.array(fileEntry, { maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom<FileEntry[]>(Array.from({ length: 5000 }, (_, i) => ({ url: `https://tvmexport${i % 10}abc.blob.core.windows.net/c/part-${i}.json.gz?sig=Sig${i}x0123456789abcdef` }))) },
  { weight: 2, arbitrary: fc.constantFrom(null, "https://a.blob.core.windows.net/c/b", 7, {}, { 0: "https://a.blob.core.windows.net/c/b", length: 1 }, true) },
);

interface AnswerShape {
  text: string;
  /** The exportFiles list, when the answer has one. */
  files?: FileEntry[];
  /** The generatedTime's JSON text, when the answer has one. */
  time?: string;
  shape: "object" | "other";
}

const extraFields = fc.dictionary(
  fc.constantFrom("@odata.context", "__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "exportfiles", "GENERATEDTIME", "value", "@odata.nextLink"),
  fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant({ exportFiles: ["https://evil.example/c/b"], generatedTime: "2026-12-01T02:00:00Z", polluted: true })),
  { maxKeys: 3 },
);

const answerShape: fc.Arbitrary<AnswerShape> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc
      .tuple(fc.option(filesValue, { freq: 8 }), fc.constantFrom("exportFiles", "ExportFiles"), fc.option(timeJson, { freq: 8 }), fc.constantFrom("generatedTime", "GeneratedTime"), extraFields, fc.boolean(), fc.constantFrom("", "", "", " \n", "\uFEFF"))
      .map(([files, filesKey, time, timeKey, extra, extraFirst, before]): AnswerShape => {
        const own: string[] = [];
        if (files !== null) own.push(`${JSON.stringify(filesKey)}:${Array.isArray(files) ? `[${files.map((f) => JSON.stringify(entryValue(f))).join(",")}]` : JSON.stringify(files)}`);
        if (time !== null) own.push(`${JSON.stringify(timeKey)}:${time}`);
        const extras = Object.entries(extra).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
        return {
          // NOTE: a UTF-8 BOM before the JSON is no fault: fetch's text() drops it, as UTF-8 decoding does.
          text: `${before}{${(extraFirst ? [...extras, ...own] : [...own, ...extras]).join(",")}}`,
          files: Array.isArray(files) ? files : undefined,
          time: time ?? undefined,
          shape: "object",
        };
      }),
  },
  {
    weight: 1,
    arbitrary: fc
      .oneof(
        fc.constantFrom("null", "[]", "42", '"x"', "true", "", "{", "<html>oops</html>", '[{"exportFiles":[]}]'),
        fc.json({ maxDepth: 3 }),
        fc.string({ maxLength: 40 }),
      )
      .map((text): AnswerShape => ({ text, shape: "other" })),
  },
);

/** Whether the answer is one the client must accept (by the oracles), and what it must give then. */
function expectedAnswer(shape: AnswerShape, allowLoopback: boolean): { generatedTime: string; exportFiles: string[] } | undefined {
  if (shape.shape !== "object") {
    let parsed: unknown;
    try {
      parsed = JSON.parse(shape.text);
    } catch {
      return undefined;
    }
    // Only objects with the two fields can be valid; the fuzz's other texts are never such objects.
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) && ("exportFiles" in parsed || "ExportFiles" in parsed)) throw new Error(`unexpected ${shape.text}`);
    return undefined;
  }
  if (shape.files === undefined) return undefined;
  const urls = shape.files.map(entryValue);
  if (!urls.every((u) => typeof u === "string" && oracleAccepts(u, allowLoopback))) return undefined;
  const generatedTime = shape.time === undefined ? undefined : oracleTime(JSON.parse(shape.time));
  return generatedTime === undefined ? undefined : { generatedTime, exportFiles: urls as string[] };
}

function secretsOf(shape: AnswerShape): HostileUrl[] {
  return (shape.files ?? []).filter((f): f is HostileUrl => "url" in f);
}

// ---- The properties -------------------------------------------------------------------------------

describe("validateExportUrl under fuzzed URLs", () => {
  it("accepts a URL exactly when the rule's oracle does, throws only its ExportFileError, and never shows the SAS", () => {
    fc.assert(
      fc.property(hostileUrl, fc.boolean(), (input, allowLoopback) => {
        checkUrl(input, allowLoopback);
      }),
      { numRuns: 5000 },
    );
  });

  it("accepts every URL of the accepted form, on either blob host, and loopback ones only with allowLoopback", () => {
    fc.assert(
      fc.property(acceptedUrl, loopbackUrl, (blob, loopback) => {
        expect(validate(blob.url, false)).toBeInstanceOf(URL);
        expect(validate(blob.url, true)).toBeInstanceOf(URL);
        expect(validate(loopback.url, true)).toBeInstanceOf(URL);
        checkUrl(loopback, false);
        expect(validate(loopback.url, false)).toBeInstanceOf(ExportFileError);
      }),
      { numRuns: 1000 },
    );
  });
});

describe("DefenderClient.infoGatheringExport under fuzzed answers", () => {
  it("accepts exactly the answers the oracles accept, fails only with a DefenderApiError naming the problem, shows no SAS, pollutes nothing", async () => {
    await fc.assert(
      fc.asyncProperty(answerShape, fc.boolean(), async (shape, allowLoopback) => {
        const { value, error, logs } = await answer(shape.text, allowLoopback);
        const expected = expectedAnswer(shape, allowLoopback);
        if (expected !== undefined) {
          expect(error, `rejected: ${String(error)}`).toBeUndefined();
          expect(value).toEqual(expected);
        } else {
          expect(value, `accepted ${shape.text.slice(0, 300)}`).toBeUndefined();
          expect(error).toBeInstanceOf(DefenderApiError);
          const apiError = error as DefenderApiError;
          expect(apiError.message).toMatch(/^GET \/api\/machines\/InfoGatheringExport answered 200 with a body this app cannot use: .+\.$/s);
          expect(apiError.status).toBe(200);
          expect(apiError.path).toBe("/api/machines/InfoGatheringExport");
          expect(secretsOf(shape).flatMap((url) => sasIn(apiError.message, url))).toEqual([]);
        }
        const logText = logs.join("\n");
        expect(secretsOf(shape).flatMap((url) => sasIn(logText, url))).toEqual([]);
        expect(`${logText}\n${String(error)}`).not.toContain(TOKEN);
        expect(Object.keys(Object.prototype)).toEqual([]);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      }),
      { numRuns: 500 },
    );
  });
});

describe("DefenderClient.infoGatheringExport, answers the fuzz found", () => {
  const files = '"exportFiles":["https://tvmexport01.blob.core.windows.net/c/b.json.gz?sv=1&sig=Zm9vYmFyc2VjcmV0"]';

  it.each([
    ["a day past the month's end", '"2026-02-30T00:00:00Z"', '"generatedTime" is "2026-02-30T00:00:00Z", not an ISO 8601 time'],
    ["February 29 of a common year", '"2025-02-29T10:00:00Z"', '"generatedTime" is "2025-02-29T10:00:00Z", not an ISO 8601 time'],
    ["the hour 24", '"2026-12-01T24:00:00Z"', '"generatedTime" is "2026-12-01T24:00:00Z", not an ISO 8601 time'],
    ["an array nested 10,000 deep", `${"[".repeat(10_000)}${"]".repeat(10_000)}`, '"generatedTime" is an array, not an ISO 8601 time'],
    ["a string of a megabyte", JSON.stringify("2026-12-01T02:00:00Z".padEnd(1_000_000, "9")), `"generatedTime" is "2026-12-01T02:00:00Z${"9".repeat(40)}", not`],
    ["an object", '{"value":"2026-12-01T02:00:00Z"}', '"generatedTime" is an object, not an ISO 8601 time'],
  ])("rejects a generatedTime that is %s with a DefenderApiError naming it", async (_name, time, problem) => {
    const { error } = await answer(`{${files},"generatedTime":${time}}`, false);
    expect(error).toBeInstanceOf(DefenderApiError);
    expect((error as DefenderApiError).message).toContain(problem);
    expect((error as DefenderApiError).message).not.toContain("Zm9vYmFyc2VjcmV0");
  });

  it("accepts February 29 of a leap year and an offset that moves the date", async () => {
    expect((await answer(`{${files},"generatedTime":"2024-02-29T23:30:00-01:00"}`, false)).value).toMatchObject({ generatedTime: "2024-03-01T00:30:00.000Z" });
  });
});
