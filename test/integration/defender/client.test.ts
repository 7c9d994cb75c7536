import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { TokenCredential } from "@azure/identity";
import { afterEach, describe, expect, it } from "vitest";
import { DefenderClient, type DefenderClientOptions, type DeviceAvInfoPage } from "../../../shared/defender/client.js";
import { ConfigError, DefenderApiError } from "../../../shared/errors.js";
import { MemoryLogger } from "../../../shared/log.js";
import { fakeClock } from "../../unit/defender/clock.js";
import { startApiServer, type ApiReply, type ApiRequest, type ApiServer } from "./apiServer.js";

const TOKEN = "tok-9f8e7d6c5b4a39281706f5e4d3c2b1a0";
const SCOPE = "https://api.securitycenter.microsoft.com/.default";
const SIG = "sig=Zm9vYmFyc2VjcmV0c2lnbmF0dXJl%3D";
const blobUrl = (i: number, host = "tvmexportexternalprdeus.blob.core.windows.net") =>
  `https://${host}/temp-1/2026-12-01/0200/InfoGatheringExport/json/OrgId=o/_RbacGroupId=${i}/part-0000${i}.json.gz?sv=2021-08-06&sr=b&sp=r&${SIG}`;

const servers: ApiServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(handler: (req: ApiRequest) => ApiReply | Promise<ApiReply>): Promise<ApiServer> {
  const server = await startApiServer(handler, { acceptToken: (t) => t === TOKEN });
  servers.push(server);
  return server;
}

function setup(apiBaseUrl: string, overrides: Partial<DefenderClientOptions> = {}) {
  const clock = fakeClock();
  const logger = new MemoryLogger();
  let tokenCalls = 0;
  const credential: TokenCredential = {
    getToken: async () => {
      tokenCalls++;
      return { token: TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 };
    },
  };
  const client = new DefenderClient({
    apiBaseUrl,
    credential,
    scope: SCOPE,
    allowLoopback: true,
    retryBudgetMs: 300_000,
    sleep: clock.sleep,
    now: clock.now,
    random: () => 0.5,
    logger,
    ...overrides,
  });
  return { client, clock, logger, tokenCalls: () => tokenCalls };
}

async function rejection(promise: Promise<unknown>): Promise<DefenderApiError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof DefenderApiError)) throw new Error(`expected a DefenderApiError, got ${String(error)}`);
  return error;
}

async function allPages(pages: AsyncIterable<DeviceAvInfoPage>): Promise<DeviceAvInfoPage[]> {
  const out: DeviceAvInfoPage[] = [];
  for await (const page of pages) out.push(page);
  return out;
}

const exportAnswer = { "@odata.context": "x", exportFiles: [blobUrl(1), blobUrl(2)], generatedTime: "2026-12-01T02:00:00Z" };

describe("DefenderClient.infoGatheringExport", () => {
  it("asks for sasValidHours and returns the validated URLs and the generation time", async () => {
    const api = await serve(() => ({ body: exportAnswer }));
    const { client, logger, tokenCalls } = setup(api.url);
    const result = await client.infoGatheringExport({ sasValidHours: 6 });
    expect(result).toEqual({ generatedTime: "2026-12-01T02:00:00.000Z", exportFiles: [blobUrl(1), blobUrl(2)] });
    expect(api.requests).toHaveLength(1);
    expect(api.requests[0]!.path).toBe("/api/machines/InfoGatheringExport");
    expect(api.requests[0]!.query.get("sasValidHours")).toBe("6");
    expect(api.requests[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(api.requests[0]!.headers["client-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(tokenCalls()).toBe(1);
    expect(logger.lines).toEqual([
      expect.stringMatching(/^info defender called "InfoGatheringExport" status=200 attempts=1 files=2 generatedTime=2026-12-01T02:00:00.000Z elapsedMs=\d+$/),
    ]);
  });

  it("accepts PascalCase keys, a time without zone (as UTC), fractional seconds, and an empty list", async () => {
    const api = await serve(() => ({ body: { ExportFiles: [], GeneratedTime: "2026-12-01T02:00:00.1234567" } }));
    const { client } = setup(api.url);
    expect(await client.infoGatheringExport({ sasValidHours: 6 })).toEqual({ generatedTime: "2026-12-01T02:00:00.123Z", exportFiles: [] });
  });

  it.each([
    ["not JSON", "<html>oops</html>", "it is not JSON"],
    ["not an object", [blobUrl(1)], "it is not a JSON object"],
    ["no file list", { generatedTime: "2026-12-01T02:00:00Z" }, 'it has no "exportFiles" list'],
    ["a file that is not a string", { exportFiles: [42], generatedTime: "2026-12-01T02:00:00Z" }, "exportFiles[0] is not a string"],
    ["a bad time", { exportFiles: [], generatedTime: "yesterday" }, '"generatedTime" is "yesterday", not an ISO 8601 time'],
    ["no time", { exportFiles: [] }, '"generatedTime" is undefined'],
  ])("rejects an answer with %s, naming the problem", async (_name, body, problem) => {
    const api = await serve(() => ({ body }));
    const error = await rejection(setup(api.url).client.infoGatheringExport({ sasValidHours: 6 }));
    expect(error.message).toContain(problem);
    expect(error.status).toBe(200);
    expect(error.path).toBe("/api/machines/InfoGatheringExport");
  });

  it("rejects an answer with a URL off Microsoft's blob hosts, without showing any SAS", async () => {
    const api = await serve(() => ({ body: { ...exportAnswer, exportFiles: [blobUrl(1), blobUrl(2, "tvmexport.blob.core.windows.net.evil.example")] } }));
    const { client, logger } = setup(api.url);
    const error = await rejection(client.infoGatheringExport({ sasValidHours: 6 }));
    expect(error.message).toContain("exportFiles[1]");
    expect(error.message).toContain("tvmexport.blob.core.windows.net.evil.example is not an Azure Blob Storage account host");
    expect(error.message).not.toContain("sig=");
    expect(logger.lines.join("\n")).not.toContain("sig=");
  });

  it("accepts loopback export URLs with allowLoopback (the simulator)", async () => {
    const loopbackUrl = `http://127.0.0.1:10000/exporter/c/part-1.json.gz?sv=1&${SIG}`;
    const api = await serve(() => ({ body: { ...exportAnswer, exportFiles: [loopbackUrl] } }));
    expect((await setup(api.url).client.infoGatheringExport({ sasValidHours: 6 })).exportFiles).toEqual([loopbackUrl]);
  });
});

function clientOptionsOf(apiBaseUrl: string): DefenderClientOptions {
  return { apiBaseUrl, credential: { getToken: async () => null }, scope: SCOPE, allowLoopback: true, retryBudgetMs: 1000 };
}

describe("DefenderClient permissions", () => {
  it.each([
    [401, "infoGatheringExport", "Vulnerability.Read.All"],
    [403, "infoGatheringExport", "Vulnerability.Read.All"],
    [401, "deviceAvInfoPages", "Machine.Read.All"],
    [403, "deviceAvInfoPages", "Machine.Read.All"],
  ] as const)("%i from %s names %s on WindowsDefenderATP and exposes the status", async (status, method, permission) => {
    const api = await serve(() => ({
      status,
      headers: { "x-request-id": "req-42" },
      body: { error: { code: status === 403 ? "Forbidden" : "Unauthorized", message: "Missing application roles" } },
    }));
    const { client } = setup(api.url);
    const call = method === "infoGatheringExport" ? client.infoGatheringExport({ sasValidHours: 6 }) : allPages(client.deviceAvInfoPages());
    const error = await rejection(call);
    expect(error.status).toBe(status);
    expect(error.message).toContain(permission);
    expect(error.message).toContain("application permission");
    expect(error.message).toContain("WindowsDefenderATP (appId fc780465-2017-40d4-a0c5-307022471b92)");
    expect(error.message).toContain("Missing application roles");
    expect(error.requestId).toBe("req-42");
    expect(api.requests).toHaveLength(1);
  });
});

describe("DefenderClient retries", () => {
  it.each([408, 429, 500, 502, 503, 504])("retries %i and succeeds, with one request id and one token per call", async (status) => {
    const api = await serve((req) => (req.attempt <= 2 ? { status } : { body: exportAnswer }));
    const { client, clock, tokenCalls, logger } = setup(api.url);
    await client.infoGatheringExport({ sasValidHours: 6 });
    expect(api.requests.map((r) => r.attempt)).toEqual([1, 2, 3]);
    expect(clock.sleeps).toEqual([500, 1000]);
    expect(new Set(api.requests.map((r) => r.headers["client-request-id"])).size).toBe(1);
    expect(tokenCalls()).toBe(1);
    expect(logger.lines[0]).toContain("status=200 attempts=3 waitedMs=1500");
  });

  it("sleeps exactly what Retry-After says, in seconds and as an HTTP date", async () => {
    let dateAnswer = "";
    const api = await serve((req) => {
      if (req.attempt === 1) return { status: 429, headers: { "retry-after": "7" } };
      if (req.attempt === 2) return { status: 503, headers: { "retry-after": dateAnswer } };
      return { body: exportAnswer };
    });
    const { client, clock } = setup(api.url, { random: () => 0.999 });
    dateAnswer = new Date(clock.now() + 7_000 + 13_000).toUTCString();
    await client.infoGatheringExport({ sasValidHours: 6 });
    expect(api.requests).toHaveLength(3);
    expect(clock.sleeps).toEqual([7_000, 13_000]);
  });

  it.each([400, 404, 501, 505])("does not retry %i", async (status) => {
    const api = await serve(() => ({ status, body: { error: { code: "Nope", message: "no" } } }));
    const { client, clock } = setup(api.url);
    const error = await rejection(client.infoGatheringExport({ sasValidHours: 6 }));
    expect(api.requests).toHaveLength(1);
    expect(clock.sleeps).toEqual([]);
    expect(error.status).toBe(status);
    expect(error.attempts).toBe(1);
    expect(error.message).toContain(`GET /api/machines/InfoGatheringExport answered ${status}`);
  });

  it("gives up when the budget is spent, naming the attempts, and the server saw exactly those", async () => {
    const api = await serve(() => ({ status: 503, headers: { "retry-after": "30" } }));
    const { client, clock, logger } = setup(api.url, { retryBudgetMs: 100_000 });
    const error = await rejection(client.infoGatheringExport({ sasValidHours: 6 }));
    expect(clock.sleeps).toEqual([30_000, 30_000, 30_000]);
    expect(api.requests).toHaveLength(4);
    expect(error.attempts).toBe(4);
    expect(error.status).toBe(503);
    expect(error.message).toContain("after 4 attempt(s)");
    expect(error.message).toContain("retry budget of 100 s");
    expect(logger.lines).toEqual([expect.stringMatching(/^warn defender failed "InfoGatheringExport" status=503 attempts=4 /)]);
  });

  it("retries connections reset mid-request", async () => {
    const api = await serve((req) => (req.attempt <= 2 ? { reset: true } : { body: exportAnswer }));
    const { client } = setup(api.url);
    await client.infoGatheringExport({ sasValidHours: 6 });
    expect(api.requests).toHaveLength(3);
  });

  it("retries an attempt that times out", async () => {
    const api = await serve((req) => (req.attempt === 1 ? { hang: true } : { body: exportAnswer }));
    const { client } = setup(api.url, { attemptTimeoutMs: 200 });
    await client.infoGatheringExport({ sasValidHours: 6 });
    expect(api.requests).toHaveLength(2);
  });

  it("retries a refused connection until the budget is spent", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const { client, clock } = setup(`http://127.0.0.1:${port}`, { retryBudgetMs: 10_000, random: () => 0.999 });
    const error = await rejection(client.infoGatheringExport({ sasValidHours: 6 }));
    expect(clock.sleeps.map((ms) => Math.round(ms / 1000))).toEqual([1, 2, 4]);
    expect(error.attempts).toBe(4);
    expect(error.message).toContain("ECONNREFUSED");
  });

  it("reports a redirect instead of following it with the token", async () => {
    const elsewhere = await serve(() => ({ body: exportAnswer }));
    const api = await serve(() => ({ status: 302, headers: { location: `${elsewhere.url}/api/machines/InfoGatheringExport` } }));
    const error = await rejection(setup(api.url).client.infoGatheringExport({ sasValidHours: 6 }));
    expect(error.status).toBe(302);
    expect(elsewhere.requests).toHaveLength(0);
  });
});

describe("DefenderClient secrets", () => {
  const leaky = `Token Bearer ${TOKEN} or ${TOKEN} rejected for ${blobUrl(3)} (${SIG})`;

  it.each([
    ["a 400", 400],
    ["a 403", 403],
    ["a 503 until the budget is spent", 503],
  ])("keeps the token and any sig= out of the error and the log line on %s", async (_name, status) => {
    const api = await serve(() => ({ status, body: { error: { code: "Bad", message: leaky } } }));
    const { client, logger } = setup(api.url, { retryBudgetMs: 5_000 });
    const error = await rejection(client.infoGatheringExport({ sasValidHours: 6 }));
    const text = [error.message, error.path, String(error.requestId), ...logger.lines].join("\n");
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain("sig=");
    expect(text).not.toContain("Zm9vYmFy");
    if (status !== 503) expect(error.message).toContain("rejected for https://tvmexportexternalprdeus.blob.core.windows.net/temp-1/");
  });

  it("keeps the token out of a plain-text error body too", async () => {
    const api = await serve(() => ({ status: 418, body: `echo: Authorization: Bearer ${TOKEN}; raw ${TOKEN}; url ${blobUrl(4)}` }));
    const error = await rejection(setup(api.url).client.infoGatheringExport({ sasValidHours: 6 }));
    expect(error.message).toContain("answered 418");
    expect(error.message).not.toContain(TOKEN);
    expect(error.message).not.toContain("sig=");
  });
});

describe("DefenderClient.deviceAvInfoPages", () => {
  const ids = Array.from({ length: 25 }, (_, i) => `dev-${String(i).padStart(2, "0")}`);

  /** 25 records in pages of $top, each page linking to the next by $skip. */
  function pagedHandler(base: () => string, faults: (req: ApiRequest) => ApiReply | undefined = () => undefined) {
    return (req: ApiRequest): ApiReply => {
      const fault = faults(req);
      if (fault) return fault;
      const top = Number(req.query.get("$top"));
      const skip = Number(req.query.get("$skip") ?? 0);
      const value = ids.slice(skip, skip + top).map((id) => ({ id, machineId: id }));
      const next = skip + top < ids.length ? `${base()}/api/deviceavinfo?$top=${top}&$skip=${skip + top}` : undefined;
      return { body: { "@odata.context": "ctx", value, ...(next ? { "@odata.nextLink": next } : {}) } };
    };
  }

  async function pagedServer(faults?: (req: ApiRequest) => ApiReply | undefined): Promise<ApiServer> {
    let url = "";
    const api = await serve(pagedHandler(() => url, faults));
    url = api.url;
    return api;
  }

  const idsOf = (pages: DeviceAvInfoPage[]) => pages.flatMap((p) => p.records.map((r) => (r as { id: string }).id));

  it("reads 25 records in pages of 10, each once and in order", async () => {
    const api = await pagedServer();
    const { client, logger } = setup(api.url);
    const pages = await allPages(client.deviceAvInfoPages({ pageSize: 10 }));
    expect(idsOf(pages)).toEqual(ids);
    expect(pages.map((p) => [p.page, p.records.length, p.nextLink !== undefined])).toEqual([
      [1, 10, true],
      [2, 10, true],
      [3, 5, false],
    ]);
    expect(api.requests.map((r) => r.query.toString())).toEqual(["%24top=10", "%24top=10&%24skip=10", "%24top=10&%24skip=20"]);
    expect(logger.lines[1]).toMatch(/^info defender called "deviceavinfo" status=200 attempts=1 page=2 records=10 more=true elapsedMs=\d+$/);
  });

  it("loses and repeats nothing when a page is throttled or reset", async () => {
    const api = await pagedServer((req) => {
      if (req.query.get("$skip") === "10" && req.attempt === 1) return { status: 429, headers: { "retry-after": "2" } };
      if (req.query.get("$skip") === "20" && req.attempt <= 2) return { reset: true };
      return undefined;
    });
    const { client, clock } = setup(api.url);
    const pages = await allPages(client.deviceAvInfoPages({ pageSize: 10 }));
    expect(idsOf(pages)).toEqual(ids);
    expect(pages.map((p) => p.page)).toEqual([1, 2, 3]);
    expect(clock.sleeps[0]).toBe(2_000);
    expect(api.requests).toHaveLength(6);
  });

  it("resumes from a saved nextLink and page number", async () => {
    const api = await pagedServer();
    const { client } = setup(api.url);
    const first = (await allPages(client.deviceAvInfoPages({ pageSize: 10 })))[0]!;
    const rest = await allPages(client.deviceAvInfoPages({ resume: { nextLink: first.nextLink!, page: first.page + 1 } }));
    expect([...idsOf([first]), ...idsOf(rest)]).toEqual(ids);
    expect(rest.map((p) => p.page)).toEqual([2, 3]);
  });

  it("keeps to the documented 30 calls a minute across pagings through one client, without waiting before that", async () => {
    const api = await pagedServer();
    const { client, clock } = setup(api.url);
    const first = await allPages(client.deviceAvInfoPages({ pageSize: 1 }));
    expect(clock.sleeps).toEqual([]);
    const second = await allPages(client.deviceAvInfoPages({ pageSize: 1 }));
    // 25 + 25 calls at one instant of the fake clock: the 31st waits for the first minute to pass.
    expect(clock.sleeps).toEqual([60_000]);
    expect([idsOf(first), idsOf(second)]).toEqual([ids, ids]);
  });

  it("waits for the hour's budget too, and says so in the log", async () => {
    const api = await pagedServer();
    const { client, clock, logger } = setup(api.url, { deviceAvInfoLimit: { perMinute: 4, perHour: 10 }, retryBudgetMs: 3_600_000 });
    const pages = await allPages(client.deviceAvInfoPages({ pageSize: 2 }));
    expect(idsOf(pages)).toEqual(ids);
    expect(api.requests).toHaveLength(13);
    // Calls 1–4 at 0 s, 5–8 at 60 s, 9–10 at 120 s; the 11th waits until the first call is an hour old.
    expect(clock.sleeps).toEqual([60_000, 60_000, 3_600_000 - 120_000]);
    expect(logger.lines.filter((l) => l.startsWith("info defender waiting"))).toEqual([
      'info defender waiting "deviceavinfo" page=5 waitMs=60000',
      'info defender waiting "deviceavinfo" page=9 waitMs=60000',
      'info defender waiting "deviceavinfo" page=11 waitMs=3480000',
    ]);
  });

  it("stops with a clear error, keeping the pages read, rather than wait past the retry budget for the hour's", async () => {
    const api = await pagedServer();
    const { client, clock } = setup(api.url, { deviceAvInfoLimit: { perMinute: 4, perHour: 10 } });
    const seen: DeviceAvInfoPage[] = [];
    const error = await rejection(
      (async () => {
        for await (const page of client.deviceAvInfoPages({ pageSize: 2 })) seen.push(page);
      })(),
    );
    expect(seen.map((p) => p.page)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(api.requests).toHaveLength(10);
    expect(clock.sleeps).toEqual([60_000, 60_000]);
    expect(error).toMatchObject({ method: "GET", path: "/api/deviceavinfo" });
    expect(error.message).toBe(
      "GET /api/deviceavinfo: page 11 could only be read in 58 min, when the budget of 4 calls a minute and 10 an hour has room again; " +
        "that is past the wait this app allows (300 s, DEFENDER_RETRY_BUDGET_SECONDS). Fewer, larger pages (EXPORT_JSON_PAGE_SIZE, up to 10000) keep a run inside it.",
    );
  });

  it("defaults to pages of 10,000, passes the filter, and refuses bigger pages", async () => {
    const api = await serve(() => ({ body: { value: [] } }));
    const { client } = setup(api.url);
    const filter = "osPlatform eq 'Windows11' and avIsSignatureUpToDate eq 'False'";
    const pages = await allPages(client.deviceAvInfoPages({ filter }));
    expect(pages).toEqual([{ records: [], page: 1 }]);
    expect(api.requests[0]!.query.get("$top")).toBe("10000");
    expect(api.requests[0]!.query.get("$filter")).toBe(filter);
    await expect(allPages(client.deviceAvInfoPages({ pageSize: 10_001 }))).rejects.toThrow(RangeError);
  });

  it("refuses a nextLink to another origin and never sends it the token", async () => {
    const other = await serve(() => ({ body: { value: [{ id: "stolen" }] } }));
    const api = await serve(() => ({ body: { value: [{ id: "a" }], "@odata.nextLink": `${other.url}/api/deviceavinfo?$skip=1&${SIG}` } }));
    const { client } = setup(api.url);
    const seen: DeviceAvInfoPage[] = [];
    const error = await rejection(
      (async () => {
        for await (const page of client.deviceAvInfoPages()) seen.push(page);
      })(),
    );
    expect(error.message).toContain(`@odata.nextLink points at ${other.url}/api/deviceavinfo, not at ${api.url}`);
    expect(error.message).not.toContain("sig=");
    expect(seen).toEqual([]);
    expect(other.requests).toHaveLength(0);
  });

  it("refuses a nextLink that loops back to a page already read", async () => {
    let url = "";
    const api = await serve((req) => ({
      body: { value: [{ id: req.query.get("$skip") ?? "0" }], "@odata.nextLink": `${url}/api/deviceavinfo?$top=1&$skip=1` },
    }));
    url = api.url;
    const error = await rejection(allPages(setup(api.url).client.deviceAvInfoPages({ pageSize: 1 })));
    expect(error.message).toContain("repeats a page already read");
    expect(api.requests).toHaveLength(2);
  });

  it("refuses a page without a value list", async () => {
    const api = await serve(() => ({ body: { records: [] } }));
    const error = await rejection(allPages(setup(api.url).client.deviceAvInfoPages()));
    expect(error.message).toContain('it has no "value" list');
  });
});

describe("DefenderClient settings", () => {
  it("refuses an http base URL off loopback and a loopback one without allowLoopback", () => {
    expect(() => new DefenderClient(clientOptionsOf("http://api.security.microsoft.com"))).toThrow(/DEFENDER_API_BASE_URL uses http/);
    expect(() => new DefenderClient({ ...clientOptionsOf("https://127.0.0.1:1"), allowLoopback: false })).toThrow(ConfigError);
    expect(() => new DefenderClient({ ...clientOptionsOf("https://127.0.0.1:1"), allowLoopback: false })).toThrow(/points at a loopback host/);
    expect(() => new DefenderClient(clientOptionsOf("https://api.security.microsoft.com/"))).not.toThrow();
  });
});
