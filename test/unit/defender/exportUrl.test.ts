import { describe, expect, it } from "vitest";
import { ExportFileError } from "../../../shared/errors.js";
import { blobPathOf, validateExportUrl } from "../../../shared/defender/exportUrl.js";

const SAS = "?sv=2021-08-06&se=2026-12-01T08%3A00%3A00Z&sr=b&sp=r&sig=AbCdEf0123456789%2Bsecret%3D";
const PATH = "/temp-0b5c/2026-12-01/0200/InfoGatheringExport/json/OrgId=o1/_RbacGroupId=12/part-00010-ab.c000.json.gz";

const accepted = [
  `https://tvmexportexternalprdeus.blob.core.windows.net${PATH}${SAS}`,
  `https://abc.blob.core.usgovcloudapi.net${PATH}${SAS}`,
  `https://TVMEXPORT01.BLOB.CORE.WINDOWS.NET${PATH}${SAS}`,
  `https://tvmexport01.blob.core.windows.net:443${PATH}${SAS}`,
  `https://a1b.blob.core.windows.net/c/b.json.gz`,
];

const acceptedOnLoopback = [
  `http://127.0.0.1:10000/exporter/c/b.json.gz${SAS}`,
  `https://127.0.0.1:10000/exporter/c/b.json.gz${SAS}`,
  `http://127.8.9.10:10000/exporter/c/b.json.gz`,
  `http://localhost:10000/exporter/c/b.json.gz`,
  `http://[::1]:10000/exporter/c/b.json.gz`,
];

const hostile: [string, string][] = [
  ["http on a blob host", `http://tvmexport01.blob.core.windows.net${PATH}${SAS}`],
  ["another host", `https://evil.example${PATH}${SAS}`],
  ["blob host as a prefix", `https://x1y.blob.core.windows.net.evil.example${PATH}${SAS}`],
  ["the bare blob domain", `https://blob.core.windows.net${PATH}${SAS}`],
  ["fragment hiding the host", `https://evil.com#.blob.core.windows.net${PATH}${SAS}`],
  ["user info before the real host", `https://x1y.blob.core.windows.net@evil.com${PATH}${SAS}`],
  ["user info with password", `https://u:p@tvmexport01.blob.core.windows.net${PATH}${SAS}`],
  ["backslash authority", `https://evil.com\\@tvmexport01.blob.core.windows.net${PATH}${SAS}`],
  ["backslash in the path", `https://tvmexport01.blob.core.windows.net\\c\\b.json.gz${SAS}`],
  ["percent-encoded dot in the host", `https://tvmexport01.blob.core.windows%2enet${PATH}${SAS}`],
  ["percent-encoded host joining another", `https://tvmexport01.blob.core.windows.net%2eevil.com${PATH}${SAS}`],
  ["IPv4 address", `https://20.60.1.1${PATH}${SAS}`],
  ["decimal IP", `https://2130706433${PATH}${SAS}`],
  ["IPv6 address", `https://[2001:db8::1]${PATH}${SAS}`],
  ["another port", `https://tvmexport01.blob.core.windows.net:8443${PATH}${SAS}`],
  ["two-label account", `https://a.b.blob.core.windows.net${PATH}${SAS}`],
  ["account too short", `https://ab.blob.core.windows.net${PATH}${SAS}`],
  ["account too long", `https://${"a".repeat(25)}.blob.core.windows.net${PATH}${SAS}`],
  ["hyphen in the account", `https://tvm-export.blob.core.windows.net${PATH}${SAS}`],
  ["trailing dot", `https://tvmexport01.blob.core.windows.net.${PATH}${SAS}`],
  ["full-width dot", `https://tvmexport01\u3002blob.core.windows.net${PATH}${SAS}`],
  ["punycode look-alike", `https://xn--tvmexport-9db.blob.core.windows.net${PATH}${SAS}`],
  ["a Kelvin sign, which lower-cases to k", `https://tvm\u212Aexport.blob.core.windows.net${PATH}${SAS}`],
  ["file storage, not blob", `https://tvmexport01.file.core.windows.net${PATH}${SAS}`],
  ["newline smuggled in", `https://evil.com\n.blob.core.windows.net${PATH}${SAS}`],
  ["tab in the host", `https://tvmexport01.blob.core.win\tdows.net${PATH}${SAS}`],
  ["scheme-relative", `//tvmexport01.blob.core.windows.net${PATH}${SAS}`],
  ["ftp", `ftp://tvmexport01.blob.core.windows.net${PATH}`],
  ["javascript", "javascript:alert(1)//tvmexport01.blob.core.windows.net"],
  ["no blob path", `https://tvmexport01.blob.core.windows.net/${SAS}`],
  ["fragment on a good URL", `https://tvmexport01.blob.core.windows.net${PATH}${SAS}#x`],
  ["loopback without the setting", `http://127.0.0.1:10000/exporter/c/b.json.gz${SAS}`],
  ["localhost without the setting", `https://localhost/exporter/c/b.json.gz`],
  ["not a URL", "not a url"],
  ["empty", ""],
];

const hostileEvenOnLoopback: [string, string][] = [
  ["decimal loopback", "http://2130706433:10000/exporter/c/b.json.gz"],
  ["hex loopback", "http://0x7f.0.0.1:10000/exporter/c/b.json.gz"],
  ["long-form IPv6 loopback", "http://[0:0:0:0:0:0:0:1]:10000/exporter/c/b.json.gz"],
  ["localhost with trailing dot", "http://localhost.:10000/exporter/c/b.json.gz"],
  ["look-alike of localhost", "http://localhost.evil.example/exporter/c/b.json.gz"],
  ["private address", "http://10.0.0.1:10000/exporter/c/b.json.gz"],
  ["ftp on loopback", "ftp://127.0.0.1/exporter/c/b.json.gz"],
  ["user info on loopback", "http://evil.com@127.0.0.1:10000/exporter/c/b.json.gz"],
];

describe("validateExportUrl", () => {
  it.each(accepted)("accepts %s", (url) => {
    expect(validateExportUrl(url, { allowLoopback: false }).href).toBe(new URL(url).href);
    expect(() => validateExportUrl(url, { allowLoopback: true })).not.toThrow();
  });

  it.each(acceptedOnLoopback)("accepts %s only with allowLoopback", (url) => {
    expect(() => validateExportUrl(url, { allowLoopback: true })).not.toThrow();
    expect(() => validateExportUrl(url, { allowLoopback: false })).toThrow(ExportFileError);
  });

  it.each(hostile)("rejects %s", (_name, url) => {
    expect(() => validateExportUrl(url, { allowLoopback: false })).toThrow(ExportFileError);
  });

  it.each(hostileEvenOnLoopback)("rejects %s even with allowLoopback", (_name, url) => {
    expect(() => validateExportUrl(url, { allowLoopback: true })).toThrow(ExportFileError);
  });

  it("says what is wrong, shows the URL without its SAS, and is not retriable", () => {
    const error = catchError(() => validateExportUrl(`http://tvmexport01.blob.core.windows.net${PATH}${SAS}`, { allowLoopback: false }));
    expect(error.message).toContain("uses http, not https");
    expect(error.message).toContain(`http://tvmexport01.blob.core.windows.net${PATH}`);
    expect(error.message).not.toMatch(/sig=|AbCdEf/);
    expect(error.retriable).toBe(false);
    expect(error.code).toBe("UrlRejected");
    expect(catchError(() => validateExportUrl(`https://evil.example${PATH}${SAS}`, { allowLoopback: false })).message).toContain(
      "host evil.example is not an Azure Blob Storage account host",
    );
    expect(catchError(() => validateExportUrl(`https://x1y.blob.core.windows.net@evil.com${PATH}`, { allowLoopback: false })).message).toContain(
      "user info",
    );
  });

  it("never shows a SAS, whatever the form", () => {
    for (const [, url] of [...hostile, ...hostileEvenOnLoopback]) {
      const message = catchError(() => validateExportUrl(url, { allowLoopback: false })).message;
      expect(message, url).not.toMatch(/sig=|AbCdEf|secret/);
    }
  });
});

describe("blobPathOf", () => {
  it("is the decoded path without the query, the same for an old and a refreshed URL", () => {
    const old = `https://tvmexport01.blob.core.windows.net/temp-1/2026-12-01/part%2000.json.gz${SAS}`;
    const fresh = `https://tvmexport01.blob.core.windows.net/temp-1/2026-12-01/part%2000.json.gz?sv=2&sig=other`;
    expect(blobPathOf(old)).toBe("/temp-1/2026-12-01/part 00.json.gz");
    expect(blobPathOf(fresh)).toBe(blobPathOf(old));
    expect(blobPathOf(new URL(old))).toBe(blobPathOf(old));
  });
});

function catchError(fn: () => unknown): ExportFileError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ExportFileError) return error;
    throw error;
  }
  throw new Error("expected an ExportFileError");
}
