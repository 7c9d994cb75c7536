import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { get as httpsGet } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { ClientCertificateCredential, ClientSecretCredential } from "@azure/identity";
import { BlobClient, BlobServiceClient } from "@azure/storage-blob";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { startTenant, type SimulatedTenant, type TenantOptions } from "../../../local/simulator/tenant.js";
import { makeCertificate } from "../../../local/tls.js";
import {
  apiGet,
  clientAssertion,
  type DevicePage,
  exportFiles,
  postToken,
  storageFailure,
  tinyDataset,
  tokenForm,
  tokenOf,
} from "./tenantHelpers.js";

const running: SimulatedTenant[] = [];
let containerSeq = 0;

async function tenantWith(options: Partial<TenantOptions> = {}): Promise<SimulatedTenant> {
  const tenant = await startTenant({ exporter: inject("azurite").exporter, dataset: tinyDataset(12), ...options });
  running.push(tenant);
  return tenant;
}

/** A stubbed clock near real time (Azurite judges SAS expiry by the real clock). */
function stubClock(start = Date.now()): { now: () => number; advance(ms: number): void } {
  let time = start;
  return { now: () => time, advance: (ms) => void (time += ms) };
}

function customerContainer(): ReturnType<BlobServiceClient["getContainerClient"]> {
  const service = BlobServiceClient.fromConnectionString(inject("azurite").customer.connectionString);
  return service.getContainerClient(`sim-tenant-${process.pid}-${Date.now()}-${containerSeq++}`);
}

/** GET over HTTPS trusting `ca` (Node's fetch cannot be given a CA per call). */
function httpsStatus(url: string, token: string, ca: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    httpsGet(url, { ca, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    }).on("error", reject);
  });
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((t) => t.close()));
});

describe("token endpoint", () => {
  it("issues an opaque bearer token for the client secret, and the API answers 401 without one", async () => {
    const tenant = await tenantWith();
    const res = await postToken(tenant, tokenForm(tenant));
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ token_type: "Bearer", expires_in: 3599, ext_expires_in: 3599 });
    expect(body.access_token).toMatch(/^[A-Za-z0-9_-]{20,}$/);

    const without = await fetch(`${tenant.url}/api/machines/InfoGatheringExport?sasValidHours=6`);
    expect(without.status).toBe(401);
    expect(await without.json()).toMatchObject({ error: { code: "Unauthorized", message: expect.any(String) } });
    const forged = await apiGet(tenant, "/api/deviceavinfo", "not-a-token");
    expect(forged.status).toBe(401);
    const good = await apiGet(tenant, "/api/deviceavinfo", String(body.access_token));
    expect(good.status).toBe(200);
    expect(tenant.counters).toMatchObject({ tokenCalls: 1, tokensIssued: 1, unauthorized: 2, exportCalls: 1, deviceAvInfoCalls: 2 });
  });

  it("refuses wrong credentials with OAuth error bodies", async () => {
    const tenant = await tenantWith();
    const cases: [Record<string, string | null>, number, string][] = [
      [{ client_secret: "wrong" }, 401, "invalid_client"],
      [{ client_secret: null }, 401, "invalid_client"],
      [{ client_id: "00000000-0000-0000-0000-000000000000" }, 400, "unauthorized_client"],
      [{ grant_type: "password" }, 400, "unsupported_grant_type"],
      [{ scope: null }, 400, "invalid_request"],
      [{ scope: "https://api.securitycenter.microsoft.com/Machine.Read.All" }, 400, "invalid_scope"],
    ];
    for (const [overrides, status, error] of cases) {
      const res = await postToken(tenant, tokenForm(tenant, overrides));
      expect(res.status, JSON.stringify(overrides)).toBe(status);
      const body = (await res.json()) as Record<string, unknown>;
      expect(body).toMatchObject({ error, error_description: expect.stringMatching(/^AADSTS\d+: /), error_codes: [expect.any(Number)] });
      expect(JSON.stringify(body)).not.toContain(tenant.clientSecret);
    }
    const otherTenant = await postToken(tenant, tokenForm(tenant), `${tenant.url}/other-tenant/oauth2/v2.0/token`);
    expect(otherTenant.status).toBe(400);
    expect(tenant.counters.tokensIssued).toBe(0);
  });

  it("accepts a client assertion whose aud, iss and sub are right, and refuses one whose aud is not", async () => {
    const tenant = await tenantWith();
    const claims = { aud: tenant.tokenUrl, iss: tenant.clientId, sub: tenant.clientId, exp: Math.floor(Date.now() / 1000) + 600 };
    const assertionForm = (c: Record<string, unknown>): URLSearchParams =>
      tokenForm(tenant, {
        client_secret: null,
        client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        client_assertion: clientAssertion(c),
      });
    expect((await postToken(tenant, assertionForm(claims))).status).toBe(200);
    const wrongAud = await postToken(tenant, assertionForm({ ...claims, aud: "https://login.microsoftonline.com/x/oauth2/v2.0/token" }));
    expect(wrongAud.status).toBe(401);
    expect(await wrongAud.json()).toMatchObject({ error: "invalid_client" });
    const expired = await postToken(tenant, assertionForm({ ...claims, exp: Math.floor(Date.now() / 1000) - 60 }));
    expect(expired.status).toBe(401);
    const notJwt = await postToken(tenant, tokenForm(tenant, {
      client_secret: null,
      client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
      client_assertion: "not-a-jwt",
    }));
    expect(notJwt.status).toBe(401);
  });

  it("lets a token expire on the tenant's clock, and forgets revoked tokens", async () => {
    const clock = stubClock();
    const tenant = await tenantWith({ now: clock.now, tokenLifetimeSeconds: 600 });
    const token = await tokenOf(tenant);
    expect((await apiGet(tenant, "/api/deviceavinfo", token)).status).toBe(200);
    clock.advance(600_000);
    expect((await apiGet(tenant, "/api/deviceavinfo", token)).status).toBe(401);
    const fresh = await tokenOf(tenant);
    tenant.revokeTokens();
    expect((await apiGet(tenant, "/api/deviceavinfo", fresh)).status).toBe(401);
  });

  it("serves the OpenID configuration and instance discovery that MSAL asks for", async () => {
    const tenant = await tenantWith();
    const config = await fetch(`${tenant.url}/${tenant.tenantId}/v2.0/.well-known/openid-configuration`);
    expect(config.status).toBe(200);
    expect(await config.json()).toMatchObject({
      token_endpoint: tenant.tokenUrl,
      issuer: `${tenant.url}/${tenant.tenantId}/v2.0`,
      authorization_endpoint: expect.stringContaining(tenant.url),
      jwks_uri: expect.stringContaining(tenant.url),
    });
    const discovery = await fetch(`${tenant.url}/common/discovery/instance?api-version=1.1&authorization_endpoint=x`);
    expect(await discovery.json()).toMatchObject({ tenant_discovery_endpoint: expect.any(String), metadata: expect.any(Array) });
  });

  describe("over HTTPS, with @azure/identity", () => {
    const opensslWorks = spawnSync("openssl", ["version"]).status === 0;
    let dir = "";
    let cert = Buffer.alloc(0);
    let key = Buffer.alloc(0);
    beforeAll(() => {
      if (!opensslWorks) return;
      const pem = makeCertificate("127.0.0.1", "IP:127.0.0.1");
      dir = pem.dir;
      cert = Buffer.from(pem.cert);
      key = Buffer.from(pem.key);
    });
    afterAll(() => {
      if (dir !== "") rmSync(dir, { recursive: true, force: true });
    });

    it.skipIf(!opensslWorks)("gives ClientSecretCredential and ClientCertificateCredential a token that the API accepts", async () => {
      const tenant = await tenantWith({ tls: { cert, key } });
      expect(tenant.authorityHost).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(tenant.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      // NOTE: instance discovery would go to login.microsoftonline.com; the simulator is not a known cloud.
      const common = { authorityHost: tenant.authorityHost, disableInstanceDiscovery: true, tlsOptions: { ca: cert } };
      const secret = await new ClientSecretCredential(tenant.tenantId, tenant.clientId, tenant.clientSecret, common).getToken(tenant.scope);
      const pem = join(dir, "client.pem");
      writeFileSync(pem, Buffer.concat([key, cert]));
      const byCert = await new ClientCertificateCredential(tenant.tenantId, tenant.clientId, pem, common).getToken(tenant.scope);
      expect(tenant.counters.tokensIssued).toBe(2);
      for (const token of [secret.token, byCert.token]) {
        expect(await httpsStatus(`${tenant.authorityHost}/api/deviceavinfo?$top=1`, token, cert)).toBe(200);
      }
      await expect(
        new ClientSecretCredential(tenant.tenantId, tenant.clientId, "wrong", common).getToken(tenant.scope),
      ).rejects.toThrow(/invalid_client/);
    });
  });
});

describe("InfoGatheringExport", () => {
  it("answers real read-only SAS URLs that download the exact bytes of each dataset file", async () => {
    const dataset = tinyDataset(12);
    const tenant = await tenantWith({ dataset });
    const answer = await exportFiles(tenant, await tokenOf(tenant), 6);
    expect(answer["@odata.context"]).toContain("/api/$metadata#");
    expect(answer.generatedTime).toBe(dataset.generatedTime);
    expect(answer.exportFiles).toHaveLength(dataset.files.length);
    for (const [i, sasUrl] of answer.exportFiles.entries()) {
      const url = new URL(sasUrl);
      expect(url.hostname).toBe("127.0.0.1");
      expect(url.pathname).toMatch(new RegExp(`^/${inject("azurite").exporter.name}/temp-[0-9a-f-]{36}/`));
      expect(decodeURIComponent(url.pathname)).toContain(dataset.files[i]!.path);
      expect(url.pathname).toContain("_RbacGroupId="); // as Microsoft's URLs show it
      expect(url.searchParams.get("sp")).toBe("r");
      const expiresOn = Date.parse(url.searchParams.get("se") ?? "");
      expect(Math.abs(expiresOn - (Date.now() + 6 * 3_600_000))).toBeLessThan(60_000);
      const blob = new BlobClient(sasUrl);
      expect((await blob.downloadToBuffer()).equals(dataset.files[i]!.body)).toBe(true);
      expect(await storageFailure(blob.getBlockBlobClient().upload("x", 1))).toEqual({ status: 403, code: "AuthorizationPermissionMismatch" });
      expect(await storageFailure(blob.delete())).toMatchObject({ status: 403 });
    }
    expect(tenant.counters).toMatchObject({ exportCalls: 1, exportServed: 1 });
  });

  it("is copied server-side into the customer's account from its SAS URL", async () => {
    const dataset = tinyDataset(6);
    const tenant = await tenantWith({ dataset });
    const [first] = (await exportFiles(tenant, await tokenOf(tenant))).exportFiles;
    const destination = customerContainer();
    await destination.create();
    const copy = destination.getBlockBlobClient("copied.json.gz");
    await copy.syncCopyFromURL(first!);
    expect((await copy.downloadToBuffer()).equals(dataset.files[0]!.body)).toBe(true);
    await destination.delete();
  });

  it("defaults sasValidHours to 3 and refuses values outside 1..6", async () => {
    const tenant = await tenantWith();
    const token = await tokenOf(tenant);
    const res = await apiGet(tenant, "/api/machines/InfoGatheringExport", token);
    const { exportFiles: urls } = (await res.json()) as { exportFiles: string[] };
    const se = Date.parse(new URL(urls[0]!).searchParams.get("se") ?? "");
    expect(Math.abs(se - (Date.now() + 3 * 3_600_000))).toBeLessThan(60_000);
    for (const bad of ["0", "7", "1.5", "six"]) {
      const refused = await apiGet(tenant, `/api/machines/InfoGatheringExport?sasValidHours=${bad}`, token);
      expect(refused.status).toBe(400);
      expect(await refused.json()).toMatchObject({ error: { code: "BadRequest", message: expect.stringContaining("sasValidHours") } });
    }
  });

  it("answers 404 before a dataset is set, then serves each new dataset from a fresh temp container", async () => {
    const tenant = await tenantWith({ dataset: undefined });
    const token = await tokenOf(tenant);
    const none = await apiGet(tenant, "/api/machines/InfoGatheringExport?sasValidHours=6", token);
    expect(none.status).toBe(404);

    await tenant.setDataset(tinyDataset(3, "2026-12-01T02:00:00Z"));
    const first = await exportFiles(tenant, token);
    const firstContainer = tenant.container;
    await tenant.setDataset(tinyDataset(9, "2026-12-01T08:00:00Z"));
    const second = await exportFiles(tenant, token);
    expect(tenant.container).not.toBe(firstContainer);
    expect(second.generatedTime).toBe("2026-12-01T08:00:00Z");
    expect(new URL(second.exportFiles[0]!).pathname).toContain(tenant.container!);
    // URLs already handed out keep working until they expire.
    expect((await new BlobClient(first.exportFiles[0]!).downloadToBuffer()).length).toBeGreaterThan(0);
  });

  it("issues SAS URLs on the tenant's clock: behind real time by more than sasValidHours, Azurite refuses them (403)", async () => {
    const tenant = await tenantWith({ now: stubClock(Date.now() - 7 * 3_600_000).now });
    const [url] = (await exportFiles(tenant, await tokenOf(tenant), 6)).exportFiles;
    // Azurite's code for an expired SAS on a read is AuthorizationFailure (Azure says AuthenticationFailed).
    expect(await storageFailure(new BlobClient(url!).downloadToBuffer())).toEqual({ status: 403, code: "AuthorizationFailure" });
    // A server-side copy from it fails on the destination with CannotVerifyCopySource.
    const destination = customerContainer();
    await destination.create();
    const copy = destination.getBlockBlobClient("expired.json.gz");
    expect(await storageFailure(copy.syncCopyFromURL(url!))).toEqual({ status: 403, code: "CannotVerifyCopySource" });
    expect(await storageFailure(copy.stageBlockFromURL(Buffer.from("b0").toString("base64"), url!))).toEqual({ status: 403, code: "CannotVerifyCopySource" });
    await destination.delete();
  });

  it("allows 5 calls a minute: the 6th answers 429 with Retry-After, and a minute later calls pass again", async () => {
    const clock = stubClock();
    const tenant = await tenantWith({ now: clock.now });
    const token = await tokenOf(tenant);
    for (let i = 0; i < 5; i++) {
      await exportFiles(tenant, token);
      clock.advance(10_000);
    }
    const sixth = await apiGet(tenant, "/api/machines/InfoGatheringExport?sasValidHours=6", token);
    expect(sixth.status).toBe(429);
    expect(sixth.headers.get("retry-after")).toBe("10"); // the first call (at 0 s) leaves the window at 60 s; now is 50 s
    expect(await sixth.json()).toMatchObject({ error: { code: "TooManyRequests", message: expect.stringContaining("5 per 1 Minutes") } });
    clock.advance(10_000);
    expect((await apiGet(tenant, "/api/machines/InfoGatheringExport?sasValidHours=6", token)).status).toBe(200);
    expect(tenant.counters).toMatchObject({ exportCalls: 7, exportServed: 6, throttled: 1 });
  });

  it("allows 20 calls an hour: the 21st answers 429 with the seconds until the oldest call leaves the hour", async () => {
    const clock = stubClock();
    const tenant = await tenantWith({ now: clock.now, tokenLifetimeSeconds: 86_400 });
    const token = await tokenOf(tenant);
    for (let i = 0; i < 20; i++) {
      expect((await apiGet(tenant, "/api/machines/InfoGatheringExport?sasValidHours=6", token)).status).toBe(200);
      clock.advance(60_000);
    }
    const refused = await apiGet(tenant, "/api/machines/InfoGatheringExport?sasValidHours=6", token);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe(String(3600 - 20 * 60));
    clock.advance((3600 - 20 * 60) * 1000);
    expect((await apiGet(tenant, "/api/machines/InfoGatheringExport?sasValidHours=6", token)).status).toBe(200);
  });

  it("takes its limits from the options", async () => {
    const tenant = await tenantWith({ rateLimit: { perMinute: 1, perHour: 100 } });
    const token = await tokenOf(tenant);
    expect((await apiGet(tenant, "/api/machines/InfoGatheringExport", token)).status).toBe(200);
    expect((await apiGet(tenant, "/api/machines/InfoGatheringExport", token)).status).toBe(429);
  });
});

describe("deviceavinfo", () => {
  async function allPages(tenant: SimulatedTenant, token: string, first: string): Promise<DevicePage[]> {
    const pages: DevicePage[] = [];
    let next: string | undefined = first;
    while (next !== undefined) {
      const res = await apiGet(tenant, next, token);
      expect(res.status).toBe(200);
      const page = (await res.json()) as DevicePage;
      pages.push(page);
      next = page["@odata.nextLink"];
    }
    return pages;
  }

  it("pages through every device exactly once by following @odata.nextLink", async () => {
    const dataset = tinyDataset(23);
    const tenant = await tenantWith({ dataset });
    const pages = await allPages(tenant, await tokenOf(tenant), "/api/deviceavinfo?$top=5");
    expect(pages.map((p) => p.value.length)).toEqual([5, 5, 5, 5, 3]);
    expect(pages[0]!["@odata.nextLink"]).toBe(`${tenant.url}/api/deviceavinfo?$top=5&$skip=5`);
    expect(pages[0]!["@odata.context"]).toContain("/api/$metadata#");
    const ids = pages.flatMap((p) => p.value.map((r) => r.machineId));
    expect(ids).toEqual(dataset.devices.map((d) => d.machineId));
    expect(pages[0]!.value[0]).toMatchObject({ id: dataset.devices[0]!.machineId, osPlatform: "Windows11", rbacGroupId: 412 });
    expect(tenant.counters).toMatchObject({ deviceAvInfoCalls: 5, deviceAvInfoServed: 5 });
  });

  it("serves the records through toJsonRecord", async () => {
    const tenant = await tenantWith({ toJsonRecord: (r) => ({ machineId: r.machineId, shaped: true }) });
    const res = await apiGet(tenant, "/api/deviceavinfo?$top=1", await tokenOf(tenant));
    expect(((await res.json()) as DevicePage).value).toEqual([{ machineId: "0".repeat(40), shaped: true }]);
  });

  it("clamps $top to 10,000 like the real API", async () => {
    const dataset = tinyDataset(10_050);
    const tenant = await tenantWith({ dataset });
    const token = await tokenOf(tenant);
    const pages = await allPages(tenant, token, "/api/deviceavinfo?$top=200000");
    expect(pages.map((p) => p.value.length)).toEqual([10_000, 50]);
    expect(pages[0]!["@odata.nextLink"]).toBe(`${tenant.url}/api/deviceavinfo?$top=10000&$skip=10000`);
    const unpaged = (await (await apiGet(tenant, "/api/deviceavinfo", token)).json()) as DevicePage;
    expect(unpaged.value).toHaveLength(10_000);
  });

  it("filters on rbacGroupId, osPlatform, avMode and avIsSignatureUpToDate, combined with and, across pages", async () => {
    const dataset = tinyDataset(60);
    const tenant = await tenantWith({ dataset });
    const token = await tokenOf(tenant);
    const cases: [string, (d: (typeof dataset.devices)[number]) => boolean][] = [
      ["rbacGroupId eq 412", (d) => d.rbacGroupId === 412],
      ["osPlatform eq 'Windows11'", (d) => d.osPlatform === "Windows11"],
      ["avMode eq '0'", (d) => d.avMode === "0"],
      ["avIsSignatureUpToDate eq 'False'", (d) => d.avIsSignatureUpToDate === "False"],
      ["rbacGroupId eq 412 and osPlatform eq 'Windows11' AND avMode eq '0'", (d) => d.rbacGroupId === 412 && d.osPlatform === "Windows11" && d.avMode === "0"],
    ];
    for (const [filter, keep] of cases) {
      const expected = dataset.devices.filter(keep).map((d) => d.machineId);
      expect(expected.length, filter).toBeGreaterThan(0);
      expect(expected.length, filter).toBeLessThan(dataset.devices.length);
      const pages = await allPages(tenant, token, `/api/deviceavinfo?$top=4&$filter=${encodeURIComponent(filter)}`);
      expect(pages.flatMap((p) => p.value.map((r) => r.machineId)), filter).toEqual(expected);
    }
  });

  it("answers 400 with an error body for a filter or query option it does not understand", async () => {
    const tenant = await tenantWith();
    const token = await tokenOf(tenant);
    for (const query of [
      `$filter=${encodeURIComponent("colour eq 'blue'")}`,
      `$filter=${encodeURIComponent("avMode gt '0'")}`,
      `$filter=${encodeURIComponent("avMode eq '0' or avMode eq '1'")}`,
      "$top=-1",
      "$skip=abc",
      "$orderby=machineId",
    ]) {
      const res = await apiGet(tenant, `/api/deviceavinfo?${query}`, token);
      expect(res.status, query).toBe(400);
      expect(await res.json()).toMatchObject({ error: { code: "BadRequest", message: expect.any(String), target: expect.any(String) } });
    }
    expect(tenant.counters.badRequests).toBe(6);
  });

  it("allows 30 calls a minute", async () => {
    const clock = stubClock();
    const tenant = await tenantWith({ now: clock.now });
    const token = await tokenOf(tenant);
    for (let i = 0; i < 30; i++) expect((await apiGet(tenant, "/api/deviceavinfo?$top=1", token)).status).toBe(200);
    const refused = await apiGet(tenant, "/api/deviceavinfo?$top=1", token);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("60");
    // The export has its own budget.
    expect((await apiGet(tenant, "/api/machines/InfoGatheringExport", token)).status).toBe(200);
  });
});

describe("fault switches", () => {
  const EXPORT = "/api/machines/InfoGatheringExport?sasValidHours=6";

  it("throttle: the next n API calls answer 429 with Retry-After, without spending the rate limit", async () => {
    const tenant = await tenantWith({ rateLimit: { perMinute: 2, perHour: 20 } });
    const token = await tokenOf(tenant);
    tenant.faults.throttle = 3;
    tenant.faults.retryAfterSeconds = 7;
    for (let i = 0; i < 3; i++) {
      const res = await apiGet(tenant, i === 1 ? "/api/deviceavinfo" : EXPORT, token);
      expect(res.status).toBe(429);
      expect(res.headers.get("retry-after")).toBe("7");
    }
    expect(tenant.faults.throttle).toBe(0);
    expect((await apiGet(tenant, EXPORT, token)).status).toBe(200);
    expect((await apiGet(tenant, EXPORT, token)).status).toBe(200);
    expect(tenant.counters).toMatchObject({ throttled: 3, exportCalls: 4, exportServed: 2 });
  });

  it("serverErrors: the next n calls answer 503 (or the status set)", async () => {
    const tenant = await tenantWith();
    const token = await tokenOf(tenant);
    tenant.faults.serverErrors = 2;
    expect((await apiGet(tenant, EXPORT, token)).status).toBe(503);
    tenant.faults.serverErrorStatus = 500;
    const second = await apiGet(tenant, "/api/deviceavinfo", token);
    expect(second.status).toBe(500);
    expect(await second.json()).toMatchObject({ error: { code: "InternalServerError" } });
    expect((await apiGet(tenant, EXPORT, token)).status).toBe(200);
    expect(tenant.counters.serverErrors).toBe(2);
  });

  it("resets: the next n calls lose their connection without an answer", async () => {
    const tenant = await tenantWith();
    const token = await tokenOf(tenant);
    tenant.faults.resets = 2;
    await expect(apiGet(tenant, EXPORT, token)).rejects.toThrow();
    await expect(apiGet(tenant, "/api/deviceavinfo", token)).rejects.toThrow();
    expect((await apiGet(tenant, EXPORT, token)).status).toBe(200);
    expect(tenant.counters).toMatchObject({ resets: 2, exportCalls: 2, exportServed: 1 });
  });

  it("slowMs: delays each answer through the injected sleep", async () => {
    const waits: { ms: number; release: () => void }[] = [];
    const sleep = (ms: number): Promise<void> => new Promise((resolve) => waits.push({ ms, release: resolve }));
    const tenant = await tenantWith({ sleep });
    const token = await tokenOf(tenant);
    tenant.faults.slowMs = 2_500;
    let answered = false;
    const call = apiGet(tenant, "/api/deviceavinfo", token).then((res) => {
      answered = true;
      return res;
    });
    await expect.poll(() => waits.length).toBe(1);
    expect(waits[0]!.ms).toBe(2_500);
    expect(answered).toBe(false);
    waits[0]!.release();
    expect((await call).status).toBe(200);
  });

  it("applies to the token endpoint when asked", async () => {
    const tenant = await tenantWith();
    tenant.faults.appliesTo = ["token"];
    tenant.faults.throttle = 1;
    const throttled = await postToken(tenant, tokenForm(tenant));
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get("retry-after")).toBe("1");
    tenant.faults.serverErrors = 1;
    const unavailable = await postToken(tenant, tokenForm(tenant));
    expect(unavailable.status).toBe(503);
    expect(await unavailable.json()).toMatchObject({ error: "temporarily_unavailable" });
    const token = await tokenOf(tenant);
    tenant.faults.throttle = 1;
    expect((await apiGet(tenant, EXPORT, token)).status).toBe(200);
  });

  it("fires by probability from a seedable PRNG: the same seed gives the same sequence", async () => {
    const tenant = await tenantWith({ deviceAvInfoRateLimit: { perMinute: 1000, perHour: 1000 } });
    const token = await tokenOf(tenant);
    const run = async (): Promise<number[]> => {
      tenant.faults.seed = 42;
      tenant.faults.serverErrors = { probability: 0.5 };
      const statuses: number[] = [];
      for (let i = 0; i < 20; i++) statuses.push((await apiGet(tenant, "/api/deviceavinfo?$top=1", token)).status);
      return statuses;
    };
    const first = await run();
    tenant.faults.seed = 0; // a different seed in between, so that setting 42 again restarts the sequence
    await apiGet(tenant, "/api/deviceavinfo?$top=1", token);
    const second = await run();
    expect(second).toEqual(first);
    expect(first).toContain(503);
    expect(first).toContain(200);
    tenant.faults.serverErrors = 0;
  });

  it("emptyBlob: the chosen file is served as 0 bytes with 200 OK until the switch is cleared", async () => {
    const dataset = tinyDataset(12);
    const tenant = await tenantWith({ dataset });
    const token = await tokenOf(tenant);
    tenant.faults.emptyBlob = 1;
    const urls = (await exportFiles(tenant, token)).exportFiles;
    const empty = await new BlobClient(urls[1]!).download();
    expect(empty._response.status).toBe(200);
    expect((await new BlobClient(urls[1]!).downloadToBuffer()).length).toBe(0);
    expect((await new BlobClient(urls[0]!).downloadToBuffer()).equals(dataset.files[0]!.body)).toBe(true);
    expect(tenant.servedFiles()[1]).toMatchObject({ faults: ["empty"], records: 0 });

    tenant.faults.emptyBlob = null;
    const restored = (await exportFiles(tenant, token)).exportFiles;
    expect((await new BlobClient(restored[1]!).downloadToBuffer()).equals(dataset.files[1]!.body)).toBe(true);
    expect(tenant.servedFiles()[1]!.faults).toEqual([]);
  });

  it("missingBlob: the URL is listed but the blob is gone (404 BlobNotFound; a copy gets 404 CannotVerifyCopySource)", async () => {
    const dataset = tinyDataset(12);
    const tenant = await tenantWith({ dataset });
    tenant.faults.missingBlob = dataset.files[2]!.path;
    const urls = (await exportFiles(tenant, await tokenOf(tenant))).exportFiles;
    expect(urls).toHaveLength(dataset.files.length);
    expect(await storageFailure(new BlobClient(urls[2]!).downloadToBuffer())).toEqual({ status: 404, code: "BlobNotFound" });
    const destination = customerContainer();
    await destination.create();
    expect(await storageFailure(destination.getBlockBlobClient("m.json.gz").syncCopyFromURL(urls[2]!)))
      .toEqual({ status: 404, code: "CannotVerifyCopySource" });
    await destination.delete();
    expect((await new BlobClient(urls[0]!).downloadToBuffer()).equals(dataset.files[0]!.body)).toBe(true);
  });

  it("truncatedGzip: the file is cut short, so gunzip fails with 'unexpected end of file'", async () => {
    const dataset = tinyDataset(12);
    const tenant = await tenantWith({ dataset });
    tenant.faults.truncatedGzip = [0];
    await tenant.applyBlobFaults();
    const [url] = (await exportFiles(tenant, await tokenOf(tenant))).exportFiles;
    const body = await new BlobClient(url!).downloadToBuffer();
    expect(body.length).toBeGreaterThan(0);
    expect(body.length).toBeLessThan(dataset.files[0]!.body.length);
    expect(() => gunzipSync(body)).toThrow(expect.objectContaining({ code: "Z_BUF_ERROR" }));
  });

  it("malformedLines: the file gains lines that are not JSON records, and servedFiles counts them", async () => {
    const dataset = tinyDataset(12);
    const tenant = await tenantWith({ dataset });
    tenant.faults.malformedLines = true;
    const urls = (await exportFiles(tenant, await tokenOf(tenant))).exportFiles;
    for (const [i, url] of urls.entries()) {
      const lines = gunzipSync(await new BlobClient(url).downloadToBuffer()).toString("utf8").split("\n").filter((l) => l !== "");
      const bad = lines.filter((l) => {
        try {
          JSON.parse(l);
          return false;
        } catch {
          return true;
        }
      });
      expect(bad).toHaveLength(2);
      expect(lines.length - bad.length).toBe(dataset.files[i]!.records);
      expect(tenant.servedFiles()[i]).toMatchObject({ faults: ["malformed"], malformedLines: 2, records: dataset.files[i]!.records });
    }
  });

  it("sasExpiresEarly: URLs are issued already expired (403), or valid for only the seconds given", async () => {
    const tenant = await tenantWith();
    const token = await tokenOf(tenant);
    tenant.faults.sasExpiresEarly = true;
    const [expired] = (await exportFiles(tenant, token)).exportFiles;
    expect(await storageFailure(new BlobClient(expired!).downloadToBuffer())).toEqual({ status: 403, code: "AuthorizationFailure" });
    tenant.faults.sasExpiresEarly = 1;
    const [brief] = (await exportFiles(tenant, token)).exportFiles;
    const se = Date.parse(new URL(brief!).searchParams.get("se") ?? "");
    expect(se - Date.now()).toBeLessThanOrEqual(1_000);
    tenant.faults.sasExpiresEarly = false;
    const [normal] = (await exportFiles(tenant, token)).exportFiles;
    expect((await new BlobClient(normal!).downloadToBuffer()).length).toBeGreaterThan(0);
  });
});
