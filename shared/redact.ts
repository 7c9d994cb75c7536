/**
 * The one place that keeps secrets out of text: every log line, error message and stored error goes
 * through here. Query strings are removed from URLs (a SAS signature lives there), and anything that
 * looks like a bearer token, a `sig=` value or a client secret parameter is masked.
 */
const URL_WITH_QUERY = /(\bhttps?:\/\/[^\s"'<>?#]+)\?[^\s"'<>#]*/gi;
const SECRET_PARAM = /\b(sig|signature|client_secret|client_assertion|access_token|refresh_token|password|AccountKey|SharedAccessSignature)=([^&\s"';]+)/gi;
const BEARER = /\b(Bearer)\s+[A-Za-z0-9._~+/=-]+/gi;
const JWT = /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g;

export function redact(text: string): string {
  return text
    .replace(URL_WITH_QUERY, "$1?[query removed]")
    .replace(SECRET_PARAM, "$1=[redacted]")
    .replace(BEARER, "$1 [redacted]")
    .replace(JWT, "[redacted token]");
}

/** A URL as it may be logged or stored: scheme, host and path; no user info, query or fragment. */
export function safeUrl(url: string | URL): string {
  try {
    const u = typeof url === "string" ? new URL(url) : url;
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return redact(String(url)).split("?")[0] ?? "";
  }
}
