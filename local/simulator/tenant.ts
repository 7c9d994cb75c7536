import { randomBytes, randomUUID } from "node:crypto";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { DeviceHealthRecord } from "../../shared/health/record.js";
import { line, silentLogger, type Logger } from "../../shared/log.js";
import type { AzuriteAccount } from "../azurite.js";
import type { SimulatedDataset } from "./dataset.js";
import { CALL_FAULTS, defaultFaults, seededRandom, takeCallFault, type FaultEndpoint, type TenantFaults } from "./faults.js";
import { RateLimiter, type RateLimit } from "../../shared/defender/rateLimit.js";
import { answerTokenRequest, oauthError, TokenStore, type TokenEndpointContext } from "./tenantAuth.js";
import { ExportStorage, type ServedExportFile, type Snapshot } from "./tenantBlobs.js";
import { FilterError, parseFilter, type RecordPredicate } from "./tenantFilter.js";

export type { BlobSelector, CallFault, FaultEndpoint, TenantFaults } from "./faults.js";
export type { RateLimit } from "../../shared/defender/rateLimit.js";
export type { BlobFaultKind, ServedExportFile } from "./tenantBlobs.js";

export interface TenantOptions {
  /** The Azurite account that plays Microsoft's export storage. */
  exporter: AzuriteAccount;
  /** Uploaded before startTenant resolves; without one, the export answers 404 until setDataset. */
  dataset?: SimulatedDataset;
  /** The JSON method's shape of a record. Default: the record as it is, plus `id` (= machineId). */
  toJsonRecord?: (record: DeviceHealthRecord) => Record<string, unknown>;
  /** Default: random GUIDs and a random secret. */
  tenantId?: string;
  clientId?: string;
  clientSecret?: string;
  /** InfoGatheringExport's limit. Default 5 a minute, 20 an hour (the stricter documented one). */
  rateLimit?: RateLimit;
  /** deviceavinfo's limit. Default 30 a minute, 1,000 an hour. */
  deviceAvInfoRateLimit?: RateLimit;
  /** Default 3599. */
  tokenLifetimeSeconds?: number;
  /**
   * The tenant's clock (rate limits, token and SAS expiry). Default Date.now. SAS URLs are judged by
   * Azurite on the real clock: a clock behind real time by more than sasValidHours issues URLs that
   * are already expired.
   */
  now?: () => number;
  /** How `faults.slowMs` waits. Default setTimeout. */
  sleep?: (ms: number) => Promise<void>;
  /** Initial `faults.seed`. Default 1. */
  seed?: number;
  /**
   * The exporter account's blob endpoint as the app reaches it, for the SAS URLs (e.g. a proxy in
   * front of Azurite). Default: the account's own endpoint.
   */
  exportUrlBase?: string;
  /** Serve HTTPS with this certificate instead of HTTP. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** One line per answer (method, path, status; never a query string or a token). Default silent. */
  logger?: Logger;
}

/** How many calls the tenant received, by kind; a test asserts on these. */
export interface TenantCounters {
  requests: number;
  tokenCalls: number;
  tokensIssued: number;
  exportCalls: number;
  /** InfoGatheringExport calls answered 200. */
  exportServed: number;
  deviceAvInfoCalls: number;
  /** deviceavinfo pages answered 200. */
  deviceAvInfoServed: number;
  /** Answers delayed by `faults.slowMs`. */
  slowed: number;
  /** 429s, from the rate limiters and from `faults.throttle`. */
  throttled: number;
  serverErrors: number;
  resets: number;
  unauthorized: number;
  badRequests: number;
}

export interface SimulatedTenant {
  /** Base URL of the API, e.g. `http://127.0.0.1:PORT` (the token endpoint lives on it too). */
  url: string;
  /** What @azure/identity calls `authorityHost`: the https listener with `tls`, else the same as url. */
  authorityHost: string;
  /** `{url}/{tenantId}/oauth2/v2.0/token`. */
  tokenUrl: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  /** The scope a client asks for (any `…/.default` is accepted). */
  scope: string;
  /** Fault switches; change them at any time. */
  faults: TenantFaults;
  /** The application roles granted to the app; remove one and its endpoint answers 403. */
  roles: string[];
  counters: TenantCounters;
  /** Uploads the dataset's files into a fresh `temp-<guid>` container and makes it current. */
  setDataset(dataset: SimulatedDataset): Promise<void>;
  /** The current dataset and its container, if any. */
  readonly dataset: SimulatedDataset | undefined;
  readonly container: string | undefined;
  /** The current files as they sit in the exporter account now (blob faults included). */
  servedFiles(): ServedExportFile[];
  /** Materialises the blob faults now (the export call does it too). */
  applyBlobFaults(): Promise<void>;
  /** Forgets every issued token: API calls answer 401 until a new one is fetched. */
  revokeTokens(): void;
  /** The client secret and every token issued so far: what must never appear in the app's logs or state. */
  secrets(): string[];
  /** Stops the server and deletes the containers it created. */
  close(): Promise<void>;
}

export const DEFENDER_SCOPE = "https://api.securitycenter.microsoft.com/.default";
export const MAX_PAGE_SIZE = 10_000;
/** The stricter of the documented maxima (6 or 24 hours). */
export const MAX_SAS_VALID_HOURS = 6;
export const DEFAULT_SAS_VALID_HOURS = 3;
const EXPORT_PATH = "/api/machines/infogatheringexport";
/** The application role each endpoint requires. */
const ROLES = { export: "Vulnerability.Read.All", deviceavinfo: "Machine.Read.All" } as const;
const DEVICE_AV_INFO_PATH = "/api/deviceavinfo";
const TOKEN_PATH = /^\/([^/]+)\/oauth2\/v2\.0\/token$/;
const OPENID_PATH = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/;
const DISCOVERY_PATH = /^\/[^/]+\/discovery\/instance$/;
const MAX_BODY_BYTES = 1 << 20;
const KEPT_SNAPSHOTS = 2;

interface CurrentSnapshot extends Snapshot {
  /** The JSON method's records, made on the first deviceavinfo call. */
  json?: Record<string, unknown>[];
  filtered?: { filter: string; records: Record<string, unknown>[] };
}

interface Answer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const defaultToJson = (record: DeviceHealthRecord): Record<string, unknown> => ({ id: record.machineId, ...record });

/**
 * Starts the simulated Defender tenant on a free port of 127.0.0.1: an Entra-like token endpoint,
 * InfoGatheringExport with real read-only SAS URLs into the exporter Azurite account, deviceavinfo
 * with paging and filters, rate limits, and fault switches.
 */
export async function startTenant(options: TenantOptions): Promise<SimulatedTenant> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? defaultSleep;
  const logger = options.logger ?? silentLogger;
  const toJsonRecord = options.toJsonRecord ?? defaultToJson;
  const tenantId = options.tenantId ?? randomUUID();
  const clientId = options.clientId ?? randomUUID();
  const clientSecret = options.clientSecret ?? randomBytes(30).toString("base64url");
  const storage = new ExportStorage(options.exporter, options.exportUrlBase);
  const tokens = new TokenStore(now);
  // The API's published limits, written here rather than taken from the app's constants, so that a
  // client that counts wrongly meets a tenant that does not agree with it.
  const limiters = {
    export: new RateLimiter(options.rateLimit ?? { perMinute: 5, perHour: 20 }, now),
    deviceavinfo: new RateLimiter(options.deviceAvInfoRateLimit ?? { perMinute: 30, perHour: 1000 }, now),
  };
  const faults = defaultFaults(options.seed ?? 1);
  let random = seededRandom(faults.seed);
  let randomSeed = faults.seed;
  const counters: TenantCounters = {
    requests: 0, tokenCalls: 0, tokensIssued: 0, exportCalls: 0, exportServed: 0, deviceAvInfoCalls: 0,
    deviceAvInfoServed: 0, slowed: 0, throttled: 0, serverErrors: 0, resets: 0, unauthorized: 0, badRequests: 0,
  };
  let current: CurrentSnapshot | undefined;
  const containers: string[] = [];
  let url = "";
  /** The token endpoint's own base: the https listener when there is one. */
  let authority = "";

  const tokenContext = (): TokenEndpointContext => ({
    tenantId, clientId, clientSecret, now,
    tokenUrl: `${authority}/${tenantId}/oauth2/v2.0/token`,
    otherAudiences: [`${authority}/${tenantId}/v2.0`, `${authority}/${tenantId}`, `${authority}/${tenantId}/`],
    tokenLifetimeSeconds: options.tokenLifetimeSeconds ?? 3599,
  });

  /** Waits `slowMs`, then the answer of the per-call fault that fires for this call ("reset": no answer at all). */
  async function injectedFault(endpoint: FaultEndpoint): Promise<Answer | "reset" | undefined> {
    if (!faults.appliesTo.includes(endpoint)) return undefined;
    if (faults.slowMs > 0) {
      counters.slowed++;
      await sleep(faults.slowMs);
    }
    if (faults.seed !== randomSeed) {
      randomSeed = faults.seed;
      random = seededRandom(faults.seed);
    }
    const fired = CALL_FAULTS.find((name) => takeCallFault(faults, name, random));
    switch (fired) {
      case "resets":
        return "reset";
      case "serverErrors":
        return endpoint === "token"
          ? { status: faults.serverErrorStatus, body: oauthError("temporarily_unavailable", 50001, "The service is temporarily unavailable.", now()) }
          : { status: faults.serverErrorStatus, body: apiError("InternalServerError", "Simulated server error.") };
      case "throttle": {
        const seconds = faults.retryAfterSeconds;
        return {
          status: 429,
          headers: { "retry-after": String(seconds) },
          body: apiError("TooManyRequests", `API calls quota exceeded! Try again in ${seconds} seconds.`),
        };
      }
      default:
        return undefined;
    }
  }

  function rateLimited(limiter: RateLimiter): Answer | undefined {
    const wait = limiter.take();
    if (wait === 0) return undefined;
    return {
      status: 429,
      headers: { "retry-after": String(wait) },
      body: apiError("TooManyRequests", `API calls quota exceeded! Maximum allowed ${limiter.describe()}. Try again in ${wait} seconds.`),
    };
  }

  async function exportFiles(query: URLSearchParams): Promise<Answer> {
    const hoursText = query.get("sasValidHours");
    const hours = hoursText === null ? DEFAULT_SAS_VALID_HOURS : Number(hoursText);
    if (!Number.isInteger(hours) || hours < 1 || hours > MAX_SAS_VALID_HOURS) {
      return badRequest(`sasValidHours must be a whole number of hours from 1 to ${MAX_SAS_VALID_HOURS}; got "${hoursText}".`);
    }
    const snapshot = current;
    if (snapshot === undefined) {
      return { status: 404, body: apiError("NotFound", "No export snapshot is available (the simulated tenant has no dataset yet).") };
    }
    await storage.reconcile(snapshot, faults);
    const early = faults.sasExpiresEarly;
    const expiresOn =
      early === true ? now() - 15 * 60_000 : typeof early === "number" ? now() + early * 1000 : now() + hours * 3_600_000;
    counters.exportServed++;
    return {
      status: 200,
      body: {
        "@odata.context": `${url}/api/$metadata#microsoft.windowsDefenderATP.api.ExportFilesResponse`,
        exportFiles: storage.sasUrls(snapshot, new Date(expiresOn)),
        generatedTime: snapshot.dataset.generatedTime,
      },
    };
  }

  function deviceAvInfo(query: URLSearchParams): Answer {
    for (const key of query.keys()) {
      if (key.startsWith("$") && !["$top", "$skip", "$filter"].includes(key)) {
        return badRequest(`Query option ${key} is not supported by the simulated tenant; use $top, $skip and $filter.`);
      }
    }
    const top = Math.min(MAX_PAGE_SIZE, wholeNumber(query.get("$top"), MAX_PAGE_SIZE));
    const skip = wholeNumber(query.get("$skip"), 0);
    if (Number.isNaN(top) || Number.isNaN(skip)) return badRequest("$top and $skip must be whole numbers ≥ 0.");
    const filter = query.get("$filter");
    let predicate: RecordPredicate | undefined;
    try {
      predicate = filter === null ? undefined : parseFilter(filter);
    } catch (error) {
      if (error instanceof FilterError) return badRequest(`Invalid filter clause: ${error.message}`);
      throw error;
    }
    let records: Record<string, unknown>[] = [];
    const snapshot = current;
    if (snapshot !== undefined) {
      snapshot.json ??= snapshot.dataset.devices.map((d) => toJsonRecord(d));
      records = snapshot.json;
      if (filter !== null && predicate !== undefined) {
        // NOTE: a client pages through one filter at a time; keeping its result saves a scan per page.
        if (snapshot.filtered?.filter !== filter) snapshot.filtered = { filter, records: records.filter(predicate) };
        records = snapshot.filtered.records;
      }
    }
    const body: Record<string, unknown> = {
      "@odata.context": `${url}/api/$metadata#DeviceAvInfo`,
      value: records.slice(skip, skip + top),
    };
    if (top > 0 && skip + top < records.length) {
      const filterPart = filter === null ? "" : `&$filter=${encodeURIComponent(filter)}`;
      body["@odata.nextLink"] = `${url}/api/deviceavinfo?$top=${top}&$skip=${skip + top}${filterPart}`;
    }
    counters.deviceAvInfoServed++;
    return { status: 200, body };
  }

  function badRequest(message: string): Answer {
    counters.badRequests++;
    return { status: 400, body: apiError("BadRequest", message) };
  }

  async function answer(req: IncomingMessage): Promise<Answer | "reset"> {
    const requestUrl = new URL(req.url ?? "/", url);
    const path = requestUrl.pathname;
    const lower = path.toLowerCase();
    const method = req.method ?? "GET";

    const tokenMatch = TOKEN_PATH.exec(path);
    if (tokenMatch) {
      if (method !== "POST") return methodNotAllowed("POST");
      counters.tokenCalls++;
      const body = await readBody(req);
      const fault = await injectedFault("token");
      if (fault !== undefined) return fault;
      if (!(req.headers["content-type"] ?? "").toLowerCase().startsWith("application/x-www-form-urlencoded")) {
        return { status: 400, body: oauthError("invalid_request", 900144, "The request body must be application/x-www-form-urlencoded.", now()) };
      }
      const result = answerTokenRequest(decodeURIComponent(tokenMatch[1] ?? ""), new URLSearchParams(body), tokenContext(), tokens);
      if (result.status === 200) counters.tokensIssued++;
      return { ...result, headers: { "cache-control": "no-store", pragma: "no-cache" } };
    }
    const openIdMatch = OPENID_PATH.exec(path);
    if (openIdMatch) {
      if (method !== "GET") return methodNotAllowed("GET");
      const tenant = decodeURIComponent(openIdMatch[1] ?? "");
      return { status: 200, body: openIdConfiguration(authority, tenant) };
    }
    if (DISCOVERY_PATH.test(path)) {
      if (method !== "GET") return methodNotAllowed("GET");
      const host = new URL(authority).host;
      return {
        status: 200,
        body: {
          tenant_discovery_endpoint: `${authority}/${tenantId}/v2.0/.well-known/openid-configuration`,
          "api-version": "1.1",
          metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
        },
      };
    }
    if (!lower.startsWith("/api/")) return { status: 404, body: apiError("ResourceNotFound", `No such resource: ${path}`) };

    const endpoint = lower === EXPORT_PATH ? "export" : lower === DEVICE_AV_INFO_PATH ? "deviceavinfo" : undefined;
    if (endpoint === "export") counters.exportCalls++;
    if (endpoint === "deviceavinfo") counters.deviceAvInfoCalls++;
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "");
    if (!bearer || !tokens.isValid(bearer[1] ?? "")) {
      counters.unauthorized++;
      return {
        status: 401,
        headers: { "www-authenticate": 'Bearer error="invalid_token"' },
        body: apiError("Unauthorized", bearer ? "The access token is invalid or has expired." : "Authorization header with a bearer token is required."),
      };
    }
    if (endpoint === undefined) return { status: 404, body: apiError("ResourceNotFound", `No such resource: ${path}`) };
    if (method !== "GET") return methodNotAllowed("GET");
    const role = ROLES[endpoint];
    if (!tenant.roles.includes(role)) {
      return { status: 403, body: apiError("Forbidden", `Missing application roles. API required roles: ${role}.`) };
    }
    const fault = await injectedFault(endpoint);
    if (fault !== undefined) return fault;
    const limited = rateLimited(limiters[endpoint]);
    if (limited !== undefined) return limited;
    return endpoint === "export" ? exportFiles(requestUrl.searchParams) : deviceAvInfo(requestUrl.searchParams);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const requestId = randomUUID();
    counters.requests++;
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    let result: Answer | "reset";
    try {
      result = await answer(req);
    } catch (error) {
      logger.error(line("tenant", "failed", `${req.method} ${path}`, { error: error instanceof Error ? error.message : String(error) }));
      result = { status: 500, body: apiError("InternalServerError", "The simulated tenant failed to answer.") };
    }
    if (result === "reset") {
      counters.resets++;
      logger.warn(line("tenant", "reset", `${req.method} ${path}`));
      req.socket.destroy();
      return;
    }
    if (result.status === 429) counters.throttled++;
    if (result.status >= 500) counters.serverErrors++;
    const body = result.body === undefined ? "" : JSON.stringify(addTarget(result.body, requestId));
    res.writeHead(result.status, {
      "content-type": "application/json; charset=utf-8",
      "content-length": String(Buffer.byteLength(body)),
      "request-id": requestId,
      ...(typeof req.headers["client-request-id"] === "string" ? { "client-request-id": req.headers["client-request-id"] } : {}),
      ...result.headers,
    });
    res.end(body);
    logger.info(line("tenant", "answered", `${req.method} ${path}`, { status: result.status, elapsedMs: Date.now() - started }));
  }

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch(() => req.socket.destroy());
  };
  // NOTE: @azure/identity accepts only an https authority, while the API may stay on loopback http;
  // with `tls`, a second listener serves the same routes over https and becomes the authority host.
  const servers: Server[] = [createHttpServer(listener)];
  if (options.tls) servers.push(createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, listener));
  const ports = await Promise.all(servers.map((server) => new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  })));
  url = `http://127.0.0.1:${ports[0]}`;
  authority = options.tls ? `https://127.0.0.1:${ports[1]}` : url;
  const authorityHost = authority;

  async function setDataset(dataset: SimulatedDataset): Promise<void> {
    const snapshot = await storage.upload(dataset);
    containers.push(snapshot.container);
    current = snapshot;
    // NOTE: the previous snapshot stays, as URLs already issued keep working until their SAS expires.
    while (containers.length > KEPT_SNAPSHOTS) await storage.deleteContainer(containers.shift() ?? "");
  }

  const tenant: SimulatedTenant = {
    url,
    authorityHost,
    tokenUrl: `${authorityHost}/${tenantId}/oauth2/v2.0/token`,
    tenantId,
    clientId,
    clientSecret,
    scope: DEFENDER_SCOPE,
    faults,
    roles: Object.values(ROLES),
    counters,
    setDataset,
    get dataset() {
      return current?.dataset;
    },
    get container() {
      return current?.container;
    },
    servedFiles: () => (current === undefined ? [] : current.served.map((f) => ({ ...f, faults: [...f.faults] }))),
    applyBlobFaults: async () => {
      if (current !== undefined) await storage.reconcile(current, faults);
    },
    revokeTokens: () => tokens.revokeAll(),
    secrets: () => [clientSecret, ...tokens.issued],
    async close() {
      await Promise.all(servers.map((server) => new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })));
      await Promise.all(containers.splice(0).map((name) => storage.deleteContainer(name)));
    },
  };
  try {
    if (options.dataset !== undefined) await setDataset(options.dataset);
  } catch (error) {
    await tenant.close();
    throw error;
  }
  return tenant;
}

/** The Defender API's error body; `target` (the request id) is added when the answer is written. */
function apiError(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } };
}

function addTarget(body: unknown, requestId: string): unknown {
  if (typeof body !== "object" || body === null || !("error" in body)) return body;
  const error = (body as { error: unknown }).error;
  if (typeof error !== "object" || error === null) return body;
  return { ...body, error: { ...error, target: requestId } };
}

function methodNotAllowed(allowed: string): Answer {
  return { status: 405, headers: { allow: allowed }, body: apiError("MethodNotAllowed", `Use ${allowed}.`) };
}

/** A whole number ≥ 0 from the query, the fallback when absent, NaN when malformed. */
function wholeNumber(text: string | null, fallback: number): number {
  if (text === null) return fallback;
  return /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
}

function openIdConfiguration(base: string, tenant: string): Record<string, unknown> {
  return {
    issuer: `${base}/${tenant}/v2.0`,
    authorization_endpoint: `${base}/${tenant}/oauth2/v2.0/authorize`,
    token_endpoint: `${base}/${tenant}/oauth2/v2.0/token`,
    jwks_uri: `${base}/${tenant}/discovery/v2.0/keys`,
    token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt"],
    response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
    grant_types_supported: ["client_credentials"],
    tenant_region_scope: "EU",
    cloud_instance_name: "microsoftonline.com",
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error(`Request body over ${MAX_BODY_BYTES} bytes.`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}
