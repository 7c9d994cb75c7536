import { availableParallelism } from "node:os";
import { ConfigError, type SettingProblem } from "./errors.js";
import { parseSchedule } from "./ncrontab.js";

/**
 * Every setting the app reads, in one place. `infra/` sets exactly these names (a test checks it),
 * and nothing else in the code reads process.env.
 */
export const SETTINGS = {
  defenderCloud: "DEFENDER_CLOUD",
  defenderApiBaseUrl: "DEFENDER_API_BASE_URL",
  defenderAuth: "DEFENDER_AUTH",
  defenderTenantId: "DEFENDER_TENANT_ID",
  defenderClientId: "DEFENDER_CLIENT_ID",
  defenderManagedIdentityClientId: "DEFENDER_MANAGED_IDENTITY_CLIENT_ID",
  defenderClientSecret: "DEFENDER_CLIENT_SECRET",
  defenderClientCertificate: "DEFENDER_CLIENT_CERTIFICATE",
  defenderClientCertificatePath: "DEFENDER_CLIENT_CERTIFICATE_PATH",
  defenderAuthorityHost: "DEFENDER_AUTHORITY_HOST",
  defenderScope: "DEFENDER_SCOPE",
  defenderAllowLoopback: "DEFENDER_ALLOW_LOOPBACK",
  defenderRetryBudgetSeconds: "DEFENDER_RETRY_BUDGET_SECONDS",
  exportMethod: "EXPORT_METHOD",
  exportSchedule: "EXPORT_SCHEDULE",
  exportSasValidHours: "EXPORT_SAS_VALID_HOURS",
  exportUrlRefreshBudget: "EXPORT_URL_REFRESH_BUDGET",
  exportJsonFilter: "EXPORT_JSON_FILTER",
  exportJsonPageSize: "EXPORT_JSON_PAGE_SIZE",
  dataStorage: "DATA_STORAGE",
  hostStorage: "AzureWebJobsStorage",
  dataContainer: "DATA_CONTAINER",
  runsTable: "RUNS_TABLE",
  summaryTable: "SUMMARY_TABLE",
  copyBlockThresholdBytes: "COPY_BLOCK_THRESHOLD_BYTES",
  copyBlockSizeBytes: "COPY_BLOCK_SIZE_BYTES",
  copyConcurrency: "COPY_CONCURRENCY",
  summaryParallelism: "SUMMARY_PARALLELISM",
  quarantineSampleLines: "QUARANTINE_SAMPLE_LINES",
} as const;

/** Queue names are part of the function bindings, so they are constants rather than settings. */
export const QUEUES = {
  files: "export-files",
  summaries: "export-summaries",
} as const;

/** Where the Functions runtime moves a message that failed maxDequeueCount times: `<queue>-poison`. */
export function poisonQueueOf(queueName: string): string {
  return `${queueName}-poison`;
}

/** The connection name of the queues the triggers listen on (the Functions host storage). */
export const QUEUE_CONNECTION = SETTINGS.hostStorage;

export type DefenderCloud = "public" | "gcc" | "gcchigh" | "dod";
export type DefenderAuth = "managedIdentity" | "workloadIdentity" | "certificate" | "secret";
export type ExportMethod = "files" | "json" | "auto";

/** Per-cloud defaults (Microsoft's "Defender for Endpoint for US Government customers" page). */
export const CLOUDS: Record<DefenderCloud, { apiBaseUrl: string; authorityHost: string; scope: string }> = {
  public: {
    apiBaseUrl: "https://api.security.microsoft.com",
    authorityHost: "https://login.microsoftonline.com",
    scope: "https://api.securitycenter.microsoft.com/.default",
  },
  gcc: {
    apiBaseUrl: "https://api-gcc.securitycenter.microsoft.us",
    authorityHost: "https://login.microsoftonline.com",
    scope: "https://api-gcc.securitycenter.microsoft.us/.default",
  },
  gcchigh: {
    apiBaseUrl: "https://api-gov.securitycenter.microsoft.us",
    authorityHost: "https://login.microsoftonline.us",
    scope: "https://api-gov.securitycenter.microsoft.us/.default",
  },
  dod: {
    apiBaseUrl: "https://api-gov.securitycenter.microsoft.us",
    authorityHost: "https://login.microsoftonline.us",
    scope: "https://api-gov.securitycenter.microsoft.us/.default",
  },
};

/**
 * A storage connection in the Functions convention: `NAME` holds a connection string (Azurite, or
 * a key-based account), or `NAME__blobServiceUri` / `NAME__queueServiceUri` / `NAME__tableServiceUri`
 * with `NAME__credential=managedidentity` and an optional `NAME__clientId` (identity-based).
 */
export type StorageConnection =
  | { kind: "connectionString"; connectionString: string }
  | {
      kind: "identity";
      blobServiceUri?: string;
      queueServiceUri?: string;
      tableServiceUri?: string;
      /** User-assigned managed identity's client id; undefined for system-assigned. */
      clientId?: string;
    };

export interface DefenderCredentialSettings {
  auth: DefenderAuth;
  tenantId?: string;
  clientId?: string;
  managedIdentityClientId?: string;
  clientSecret?: string;
  clientCertificate?: string;
  clientCertificatePath?: string;
  authorityHost: string;
  scope: string;
}

export interface Config {
  defender: {
    cloud: DefenderCloud;
    apiBaseUrl: string;
    credential: DefenderCredentialSettings;
    /** Loopback http(s) hosts are accepted for the API, the authority and export URLs (the simulator). */
    allowLoopback: boolean;
    retryBudgetMs: number;
  };
  export: {
    method: ExportMethod;
    schedule: string;
    sasValidHours: number;
    urlRefreshBudget: number;
    jsonFilter?: string;
    jsonPageSize: number;
  };
  storage: {
    data: StorageConnection;
    queues: StorageConnection;
    container: string;
    runsTable: string;
    summaryTable: string;
  };
  copy: {
    blockThresholdBytes: number;
    blockSizeBytes: number;
    concurrency: number;
  };
  summary: {
    parallelism: number;
    quarantineSampleLines: number;
  };
}

type Env = Record<string, string | undefined>;

class Reader {
  readonly problems: SettingProblem[] = [];
  constructor(private readonly env: Env) {}

  raw(name: string): string | undefined {
    const value = this.env[name]?.trim();
    return value === undefined || value === "" ? undefined : value;
  }

  fail(setting: string, problem: string, expected: string): undefined {
    this.problems.push({ setting, problem, expected });
    return undefined;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const match = allowed.find((a) => a.toLowerCase() === value.toLowerCase());
    return match ?? this.fail(name, `is "${value}"`, `one of ${allowed.join(", ")}`) ?? fallback;
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
      return this.fail(name, `is "${value}"`, `a whole number from ${min} to ${max}`) ?? fallback;
    }
    return n;
  }

  bool(name: string, fallback: boolean): boolean {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (/^(true|1|yes)$/i.test(value)) return true;
    if (/^(false|0|no)$/i.test(value)) return false;
    return this.fail(name, `is "${value}"`, "true or false") ?? fallback;
  }

  /** An absolute URL: https, or http/https on loopback when allowed. */
  url(name: string, fallback: string | undefined, allowLoopback: boolean): string | undefined {
    const value = this.raw(name) ?? fallback;
    if (value === undefined) return undefined;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return this.fail(name, `is not a URL ("${value.slice(0, 80)}")`, "an absolute https:// URL");
    }
    if (url.username || url.password || url.search || url.hash) {
      return this.fail(name, "carries user info, a query or a fragment", "a plain https://host[/path] URL");
    }
    const loopback = isLoopbackHost(url.hostname);
    if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback && allowLoopback)) {
      return this.fail(
        name,
        `uses ${url.protocol.replace(":", "")}`,
        `https (http only on a loopback host with ${SETTINGS.defenderAllowLoopback}=true)`,
      );
    }
    if (loopback && !allowLoopback) {
      return this.fail(name, "points at a loopback host", `a public host, or ${SETTINGS.defenderAllowLoopback}=true for the simulator`);
    }
    return url.toString().replace(/\/+$/, "");
  }

  /** A storage connection in the Functions convention (see StorageConnection). */
  connection(name: string, fallback?: string): StorageConnection | undefined {
    const connectionString = this.raw(name);
    const uri = (service: string): string | undefined => {
      const setting = `${name}__${service}ServiceUri`;
      const value = this.raw(setting);
      if (value === undefined) return undefined;
      try {
        const u = new URL(value);
        if (u.search) return this.fail(setting, "carries a query string (a SAS?)", "the service URI alone; access comes from the managed identity");
        return u.toString().replace(/\/+$/, "");
      } catch {
        return this.fail(setting, `is not a URL ("${value.slice(0, 80)}")`, "https://<account>.<service>.core.windows.net");
      }
    };
    const blobServiceUri = uri("blob");
    const queueServiceUri = uri("queue");
    const tableServiceUri = uri("table");
    const accountName = this.raw(`${name}__accountName`);
    if (blobServiceUri || queueServiceUri || tableServiceUri || accountName) {
      const credential = this.raw(`${name}__credential`);
      if (credential !== undefined && credential.toLowerCase() !== "managedidentity") {
        this.fail(`${name}__credential`, `is "${credential}"`, "managedidentity");
      }
      const derive = (service: string) => (accountName ? `https://${accountName}.${service}.core.windows.net` : undefined);
      return {
        kind: "identity",
        blobServiceUri: blobServiceUri ?? derive("blob"),
        queueServiceUri: queueServiceUri ?? derive("queue"),
        tableServiceUri: tableServiceUri ?? derive("table"),
        clientId: this.raw(`${name}__clientId`),
      };
    }
    const value = connectionString ?? fallback;
    if (value === undefined) return undefined;
    if (!/AccountName=|UseDevelopmentStorage=true|BlobEndpoint=|TableEndpoint=|QueueEndpoint=/i.test(value)) {
      return this.fail(name, "is not a storage connection string", `"DefaultEndpointsProtocol=…;AccountName=…;AccountKey=…" or ${name}__blobServiceUri / __tableServiceUri / __queueServiceUri with ${name}__credential=managedidentity`);
    }
    return { kind: "connectionString", connectionString: value };
  }
}

export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

const CONTAINER_NAME = /^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
const TABLE_NAME = /^[A-Za-z][A-Za-z0-9]{2,62}$/;
const TENANT = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[a-z0-9.-]+\.[a-z]{2,})$/i;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Reads and checks every setting. Throws one ConfigError that names every bad or missing setting,
 * what is wrong with it and the form expected.
 */
export function loadConfig(env: Env = process.env): Config {
  const r = new Reader(env);
  const S = SETTINGS;

  const allowLoopback = r.bool(S.defenderAllowLoopback, false);
  const cloud = r.oneOf<DefenderCloud>(S.defenderCloud, ["public", "gcc", "gcchigh", "dod"], "public");
  const defaults = CLOUDS[cloud];
  const apiBaseUrl = r.url(S.defenderApiBaseUrl, defaults.apiBaseUrl, allowLoopback) ?? defaults.apiBaseUrl;
  const authorityHost = r.url(S.defenderAuthorityHost, defaults.authorityHost, allowLoopback) ?? defaults.authorityHost;
  const scope = r.raw(S.defenderScope) ?? defaults.scope;
  if (!/^(https?:\/\/\S+|[0-9a-f-]{36})\/\.default$/i.test(scope)) {
    r.fail(S.defenderScope, `is "${scope}"`, "<resource>/.default, e.g. https://api.securitycenter.microsoft.com/.default");
  }

  const auth = r.oneOf<DefenderAuth>(S.defenderAuth, ["managedIdentity", "workloadIdentity", "certificate", "secret"], "managedIdentity");
  const tenantId = r.raw(S.defenderTenantId);
  const clientId = r.raw(S.defenderClientId);
  const managedIdentityClientId = r.raw(S.defenderManagedIdentityClientId);
  const clientSecret = r.raw(S.defenderClientSecret);
  const clientCertificate = r.raw(S.defenderClientCertificate);
  const clientCertificatePath = r.raw(S.defenderClientCertificatePath);
  if (auth !== "managedIdentity") {
    if (!tenantId) r.fail(S.defenderTenantId, `is missing (needed for ${S.defenderAuth}=${auth})`, "the Entra tenant id (a GUID) or its primary domain");
    if (!clientId) r.fail(S.defenderClientId, `is missing (needed for ${S.defenderAuth}=${auth})`, "the application (client) id of the app registration, a GUID");
  }
  if (tenantId && !TENANT.test(tenantId)) r.fail(S.defenderTenantId, `is "${tenantId}"`, "a GUID or a domain such as contoso.onmicrosoft.com");
  if (clientId && !GUID.test(clientId)) r.fail(S.defenderClientId, "is not a GUID", "the application (client) id, a GUID");
  if (managedIdentityClientId && !GUID.test(managedIdentityClientId)) {
    r.fail(S.defenderManagedIdentityClientId, "is not a GUID", "the client id of a user-assigned managed identity, or empty for the system-assigned one");
  }
  if (auth === "secret" && !clientSecret) {
    r.fail(S.defenderClientSecret, `is missing (needed for ${S.defenderAuth}=secret)`, "the app registration's client secret, as a Key Vault reference in Azure");
  }
  if (auth === "certificate" && !clientCertificate && !clientCertificatePath) {
    r.fail(S.defenderClientCertificate, `is missing, and so is ${S.defenderClientCertificatePath} (needed for ${S.defenderAuth}=certificate)`, "a PEM certificate with its private key (a Key Vault reference in Azure), or a path to one");
  }
  if (clientCertificate && !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(clientCertificate)) {
    r.fail(S.defenderClientCertificate, "holds no PEM private key", "PEM text with the certificate and its private key");
  }

  const method = r.oneOf<ExportMethod>(S.exportMethod, ["files", "json", "auto"], "files");
  const schedule = r.raw(S.exportSchedule) ?? "0 30 3 * * *";
  try {
    parseSchedule(schedule);
  } catch (error) {
    r.fail(S.exportSchedule, `is "${schedule}" (${(error as Error).message.replace(/^schedule "[^"]*":? ?/, "")})`, 'an NCRONTAB expression with six fields, e.g. "0 30 3 * * *" (daily at 03:30 UTC)');
  }

  const data = r.connection(S.dataStorage);
  const queues = r.connection(S.hostStorage);
  if (!data) r.fail(S.dataStorage, "is missing", `a connection string, or ${S.dataStorage}__blobServiceUri and ${S.dataStorage}__tableServiceUri with ${S.dataStorage}__credential=managedidentity`);
  else if (data.kind === "identity" && (!data.blobServiceUri || !data.tableServiceUri)) {
    r.fail(`${S.dataStorage}__blobServiceUri`, "or __tableServiceUri is missing", "both service URIs of the data storage account");
  }
  if (!queues) r.fail(S.hostStorage, "is missing", `a connection string, or ${S.hostStorage}__queueServiceUri with ${S.hostStorage}__credential=managedidentity`);
  else if (queues.kind === "identity" && !queues.queueServiceUri) {
    r.fail(`${S.hostStorage}__queueServiceUri`, "is missing", "the queue service URI of the Functions host storage account");
  }
  const container = r.raw(S.dataContainer) ?? "defender-avhealth";
  if (!CONTAINER_NAME.test(container)) r.fail(S.dataContainer, `is "${container}"`, "a blob container name: 3-63 lower-case letters, digits and single hyphens");
  const runsTable = r.raw(S.runsTable) ?? "ExportRuns";
  const summaryTable = r.raw(S.summaryTable) ?? "DeviceHealthDaily";
  for (const [setting, value] of [[S.runsTable, runsTable], [S.summaryTable, summaryTable]] as const) {
    if (!TABLE_NAME.test(value)) r.fail(setting, `is "${value}"`, "a table name: 3-63 letters and digits, starting with a letter");
  }

  const MiB = 1024 * 1024;
  const config: Config = {
    defender: {
      cloud,
      apiBaseUrl,
      credential: { auth, tenantId, clientId, managedIdentityClientId, clientSecret, clientCertificate, clientCertificatePath, authorityHost, scope },
      allowLoopback,
      retryBudgetMs: r.int(S.defenderRetryBudgetSeconds, 300, 1, 3600) * 1000,
    },
    export: {
      method,
      schedule,
      sasValidHours: r.int(S.exportSasValidHours, 6, 1, 24),
      urlRefreshBudget: r.int(S.exportUrlRefreshBudget, 2, 0, 10),
      jsonFilter: r.raw(S.exportJsonFilter),
      jsonPageSize: r.int(S.exportJsonPageSize, 10_000, 1, 10_000),
    },
    storage: {
      data: data ?? { kind: "connectionString", connectionString: "" },
      queues: queues ?? { kind: "connectionString", connectionString: "" },
      container,
      runsTable,
      summaryTable,
    },
    copy: {
      // NOTE: 256 MiB is the most Copy Blob From URL takes in one call.
      blockThresholdBytes: r.int(S.copyBlockThresholdBytes, 256 * MiB, 1, 256 * MiB),
      blockSizeBytes: r.int(S.copyBlockSizeBytes, 100 * MiB, 1, 4000 * MiB),
      concurrency: r.int(S.copyConcurrency, 8, 1, 64),
    },
    summary: {
      parallelism: r.int(S.summaryParallelism, Math.max(1, availableParallelism()), 1, 64),
      quarantineSampleLines: r.int(S.quarantineSampleLines, 100, 0, 10_000),
    },
  };
  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return config;
}
