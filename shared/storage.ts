import { TableClient } from "@azure/data-tables";
import { DefaultAzureCredential, ManagedIdentityCredential, type TokenCredential } from "@azure/identity";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { QueueClient, QueueServiceClient } from "@azure/storage-queue";
import { QUEUES, type Config, type StorageConnection } from "./config.js";

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

function blobService(connection: StorageConnection): BlobServiceClient {
  if (connection.kind === "connectionString") return BlobServiceClient.fromConnectionString(connection.connectionString);
  return new BlobServiceClient(connection.blobServiceUri!, credentialFor(connection));
}

function table(connection: StorageConnection, name: string): TableClient {
  if (connection.kind === "connectionString") {
    return TableClient.fromConnectionString(connection.connectionString, name, { allowInsecureConnection: true });
  }
  return new TableClient(connection.tableServiceUri!, name, credentialFor(connection));
}

function queueService(connection: StorageConnection): QueueServiceClient {
  if (connection.kind === "connectionString") return QueueServiceClient.fromConnectionString(connection.connectionString);
  return new QueueServiceClient(connection.queueServiceUri!, credentialFor(connection));
}

/**
 * Builds the clients for a configuration: a connection string (Azurite) or service URIs with a
 * managed identity. Queue names are the bindings' constants; tests pass their own to stay apart.
 */
export function createStorageClients(config: Config, queueNames: { files: string; summaries: string } = QUEUES): StorageClients {
  const queues = queueService(config.storage.queues);
  return {
    container: blobService(config.storage.data).getContainerClient(config.storage.container),
    runs: table(config.storage.data, config.storage.runsTable),
    summary: table(config.storage.data, config.storage.summaryTable),
    queueService: queues,
    filesQueue: queues.getQueueClient(queueNames.files),
    summariesQueue: queues.getQueueClient(queueNames.summaries),
  };
}

/** Creates what the pipeline writes to, if missing. Only "already exists" counts as success. */
export async function ensureStorage(clients: StorageClients): Promise<void> {
  await Promise.all([
    clients.container.createIfNotExists(),
    createTable(clients.runs),
    createTable(clients.summary),
    clients.filesQueue.createIfNotExists(),
    clients.summariesQueue.createIfNotExists(),
  ]);
}

async function createTable(client: TableClient): Promise<void> {
  try {
    await client.createTable();
  } catch (error) {
    // NOTE: single-entity and table errors carry statusCode, not always code.
    if ((error as { statusCode?: number }).statusCode !== 409) throw error;
  }
}

/** Messages are base64 JSON, as host.json's `messageEncoding: base64` makes the Functions runtime expect. */
export function encodeMessage(body: object): string {
  return Buffer.from(JSON.stringify(body), "utf8").toString("base64");
}

export function decodeMessage(text: string): unknown {
  return JSON.parse(Buffer.from(text, "base64").toString("utf8"));
}
