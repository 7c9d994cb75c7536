import { describe, expect, it } from "vitest";
import { ExportFileError, DefenderApiError } from "../../shared/errors.js";
import { line } from "../../shared/log.js";
import { redact, safeUrl } from "../../shared/redact.js";

const SAS = "https://acct.blob.core.windows.net/c/part-0.json.gz?sv=2022-11-02&se=2026-12-01T08%3A00%3A00Z&sr=b&sp=r&sig=AbCdEf%2Bsecret%3D";

describe("redaction", () => {
  it("removes query strings from URLs in text", () => {
    const text = redact(`copy of ${SAS} failed`);
    expect(text).toBe("copy of https://acct.blob.core.windows.net/c/part-0.json.gz?[query removed] failed");
  });

  it("masks sig=, bearer tokens, JWTs and account keys wherever they appear", () => {
    const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhYmMiLCJ0aWQiOiJ4In0.c2lnbmF0dXJlLXZhbHVl";
    const text = redact(`sig=AbC123 Authorization: Bearer abc.def.ghi token ${jwt} AccountKey=Zm9vYmFy== client_secret=s3cr3t`);
    for (const secret of ["AbC123", "abc.def.ghi", jwt, "Zm9vYmFy", "s3cr3t"]) expect(text).not.toContain(secret);
  });

  it("keeps scheme, host and path of a URL, never user info or query", () => {
    expect(safeUrl("https://user:pw@acct.blob.core.windows.net/c/a.gz?sig=x#f")).toBe("https://acct.blob.core.windows.net/c/a.gz");
  });

  it("applies to error messages and log lines", () => {
    expect(new ExportFileError(`failed ${SAS}`, "f", "CopyFailed", true).message).not.toMatch(/sig=|secret/);
    expect(new DefenderApiError(`failed ${SAS}`, { method: "GET", path: "/api/x?sig=1" }).path).toBe("/api/x");
    expect(line("copyExportFile", "failed", "r/f", { url: SAS })).not.toMatch(/sig=|secret/);
  });
});
