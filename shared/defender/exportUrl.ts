import { isLoopbackHost, SETTINGS } from "../config.js";
import { ExportFileError } from "../errors.js";
import { safeUrl } from "../redact.js";

/** `<account>.blob.core.windows.net` or its US Government twin; the account is 3-24 lower-case letters and digits. */
const BLOB_HOST = /^[a-z0-9]{3,24}\.blob\.core\.(windows\.net|usgovcloudapi\.net)$/;
/** Scheme and authority as written, before the URL parser normalises anything away. */
const AUTHORITY = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)/i;

/**
 * Checks an export file URL before anything touches it and returns it parsed. Accepted: https on
 * `<account>.blob.core.windows.net` / `<account>.blob.core.usgovcloudapi.net` with the default port;
 * with `allowLoopback`, also http(s) on 127.0.0.0/8, localhost and [::1] (the local simulator).
 * Throws a non-retriable ExportFileError naming the problem and showing the URL without its query.
 */
export function validateExportUrl(url: string, opts: { allowLoopback: boolean }): URL {
  function reject(problem: string): never {
    const allowed = opts.allowLoopback
      ? "https on <account>.blob.core.windows.net or <account>.blob.core.usgovcloudapi.net, or http(s) on a loopback host"
      : `https on <account>.blob.core.windows.net or <account>.blob.core.usgovcloudapi.net (loopback hosts only with ${SETTINGS.defenderAllowLoopback}=true)`;
    throw new ExportFileError(`Export URL ${safeUrl(url)} is rejected: ${problem}. Accepted: ${allowed}.`, safeUrl(url), "UrlRejected", false);
  }

  // The URL parser silently drops tabs and newlines and turns backslashes into slashes: refuse them first.
  if (/[\s\\\u0000-\u001f\u007f]/.test(url)) reject("it contains whitespace, control characters or backslashes");
  const written = AUTHORITY.exec(url);
  if (!written) reject("it is not an absolute http(s) URL");
  // NOTE: ASCII letters only: toLowerCase folds some other characters into ASCII (the Kelvin sign to
  // "k"), which would make a host written with one compare equal to the host the parser makes of it.
  const authority = written[2]!.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
  if (authority.includes("@")) reject("it carries user info (an '@' before the host)");
  if (authority.includes("%")) reject("its host is percent-encoded");

  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return reject("it is not a valid URL");
  }
  // Decimal or hex IPs, full-width dots, IDN and the like are rewritten by the parser: the host as
  // written must be the host as parsed.
  const writtenHost = authority.startsWith("[") ? authority.slice(0, authority.indexOf("]") + 1) : authority.split(":")[0]!;
  if (writtenHost !== parsed.hostname) reject(`its host "${writtenHost.slice(0, 80)}" is not written in plain form`);

  const host = parsed.hostname;
  if (BLOB_HOST.test(host)) {
    if (parsed.protocol !== "https:") reject(`it uses ${parsed.protocol.slice(0, -1)}, not https`);
    if (parsed.port !== "") reject(`it names port ${parsed.port}`);
  } else if (opts.allowLoopback && isLoopbackHost(host)) {
    if (parsed.protocol !== "https:" && parsed.protocol !== "http:") reject(`it uses ${parsed.protocol.slice(0, -1)}`);
  } else if (/^[\d.]+$/.test(host) || host.startsWith("[")) {
    reject(`its host ${host} is an IP address`);
  } else {
    reject(`its host ${host} is not an Azure Blob Storage account host`);
  }
  if (parsed.hash) reject("it carries a fragment");
  if (parsed.pathname.split("/").filter(Boolean).length < 2) reject("it names no container and blob");
  return parsed;
}

/**
 * The blob's path, percent-decoded, without query: the same file keeps it across export calls while
 * its SAS changes, so refreshed URLs are matched to old ones by it.
 */
export function blobPathOf(url: string | URL): string {
  const pathname = (typeof url === "string" ? new URL(url) : url).pathname;
  try {
    return decodeURIComponent(pathname);
  } catch {
    return pathname;
  }
}
