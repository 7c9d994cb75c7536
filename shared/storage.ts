import { TableClient, type TableServiceClientOptions } from "@azure/data-tables";
import { DefaultAzureCredential, ManagedIdentityCredential, type TokenCredential } from "@azure/identity";
import { BlobServiceClient, newPipeline as newBlobPipeline, type ContainerClient, type RequestPolicyFactory } from "@azure/storage-blob";
import { newPipeline as newQueuePipeline, QueueClient, QueueServiceClient } from "@azure/storage-queue";
import { QUEUES, type Config, type StorageConnection } from "./config.js";
import { statusOf } from "./errors.js";

/** Every storage client the pipeline uses, built once from the settings. */
export interface StorageClients {
  /** The customer's container: raw snapshots, manifests, quarantine samples. */
  container: ContainerClient;
  runs: TableClient;
  summary: TableClient;
  queueService: QueueServiceClient;
  filesQueue: QueueClient;
  summariesQueue: QueueClient;
}

function credentialFor(connection: Extract<StorageConnection, { kind: "identity" }>): TokenCredential {
  // NOTE: in Azure the app has a user-assigned identity; on a laptop DefaultAzureCredential picks up `az login`.
  return connection.clientId ? new ManagedIdentityCredential({ clientId: connection.clientId }) : new DefaultAzureCredential();
}

/** How the storage clients send their requests; the defaults are the SDKs' own. */
export interface StorageClientOptions {
  /**
   * Wraps every request of the clients, outside the SDKs' retries: it may fail a request before it is
   * sent or after its answer has come (the chaos run crashes a handler between two writes this way).
   */
  intercept?: <T>(method: string, send: () => Promise<T>) => Promise<T>;
  /** The SDKs' retries: attempts in all, the first delay and the longest. */
  retry?: { attempts: number; delayMs: number; maxDelayMs: number };
}

/** The Blob and Queue SDKs' pipeline: their retry options, and `intercept` as a request policy of their own kind. */
function storagePipelineOf<P extends { factories: RequestPolicyFactory[] }>(make: (options: object) => P, options: StorageClientOptions): P {
  const { retry, intercept } = options;
  const pipeline = make(retry ? { retryOptions: { maxTries: retry.attempts, retryDelayInMs: retry.delayMs, maxRetryDelayInMs: retry.maxDelayMs } } : {});
  if (intercept) {
    pipeline.factories.push({
      create: (next) => ({ sendRequest: (request) => intercept(request.method, () => next.sendRequest(request)) }),
    });
  }
  return pipeline;
}

function blobService(connection: StorageConnection, options: StorageClientOptions): BlobServiceClient {
  // The URL and credential as the SDK reads them from a connection string, or the identity-based ones.
  const base = connection.kind === "connectionString"
    ? BlobServiceClient.fromConnectionString(connection.connectionString)
    : new BlobServiceClient(connection.blobServiceUri!, credentialFor(connection));
  return new BlobServiceClient(base.url, storagePipelineOf((o) => newBlobPipeline(base.credential, o), options));
}

function queueService(connection: StorageConnection, options: StorageClientOptions): QueueServiceClient {
  const base = connection.kind === "connectionString"
    ? QueueServiceClient.fromConnectionString(connection.connectionString)
    : new QueueServiceClient(connection.queueServiceUri!, credentialFor(connection));
  // NOTE: the Queue SDK keeps `credential` protected (the Blob SDK's is public); it is set from the same parse.
  const { credential } = base as unknown as { credential: Parameters<typeof newQueuePipeline>[0] };
  return new QueueServiceClient(base.url, storagePipelineOf((o) => newQueuePipeline(credential, o), options));
}

function table(connection: StorageConnection, name: string, options: StorageClientOptions): TableClient {
  const { retry, intercept } = options;
  const clientOptions: TableServiceClientOptions = {
    retryOptions: retry ? { maxRetries: retry.attempts - 1, retryDelayInMs: retry.delayMs, maxRetryDelayInMs: retry.maxDelayMs } : undefined,
    additionalPolicies: intercept
      ? [{ policy: { name: "intercept", sendRequest: (request, next) => intercept(request.method, () => next(request)) }, position: "perCall" }]
      : undefined,
  };
  if (connection.kind === "connectionString") {
    return TableClient.fromConnectionString(connection.connectionString, name, { ...clientOptions, allowInsecureConnection: true });
  }
  return new TableClient(connection.tableServiceUri!, name, credentialFor(connection), clientOptions);
}

/**
 * Builds the clients for a configuration: a connection string (Azurite) or service URIs with a
 * managed identity. Queue names are the bindings' constants; tests pass their own to stay apart.
 */
export function createStorageClients(
  config: Config,
  queueNames: { files: string; summaries: string } = QUEUES,
  options: StorageClientOptions = {},
): StorageClients {
  const queues = queueService(config.storage.queues, options);
  return {
    container: blobService(config.storage.data, options).getContainerClient(config.storage.container),
    runs: table(config.storage.data, config.storage.runsTable, options),
    summary: table(config.storage.data, config.storage.summaryTable, options),
    queueService: queues,
    filesQueue: queues.getQueueClient(queueNames.files),
    summariesQueue: queues.getQueueClient(queueNames.summaries),
  };
}

/** Creates what the pipeline writes to, if missing. Only "already exists" counts as success. */
export async function ensureStorage(clients: StorageClients): Promise<void> {
  await Promise.all([
    clients.container.createIfNotExists(),
    createTableIfMissing(clients.runs),
    createTableIfMissing(clients.summary),
    clients.filesQueue.createIfNotExists(),
    clients.summariesQueue.createIfNotExists(),
  ]);
}

/** Creates a table unless it exists (409). */
export async function createTableIfMissing(client: TableClient): Promise<void> {
  try {
    await client.createTable();
  } catch (error) {
    // NOTE: single-entity and table errors carry statusCode, not always code.
    if (statusOf(error) !== 409) throw error;
  }
}

/** Messages are base64 JSON, as host.json's `messageEncoding: base64` makes the Functions runtime expect. */
export function encodeMessage(body: object): string {
  return Buffer.from(JSON.stringify(body), "utf8").toString("base64");
}

export function decodeMessage(text: string): unknown {
  return JSON.parse(Buffer.from(text, "base64").toString("utf8"));
}
