import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { createServer, connect } from "node:net";
import { fileURLToPath } from "node:url";

// NOTE: `import "azurite"` loads `vscode`; the server classes are required one by one instead.
const require = createRequire(import.meta.url);
const dist = "azurite/dist/src";
/* eslint-disable @typescript-eslint/no-require-imports */
const { default: BlobServer } = require(`${dist}/blob/BlobServer`);
const { default: BlobConfiguration } = require(`${dist}/blob/BlobConfiguration`);
const { default: QueueServer } = require(`${dist}/queue/QueueServer`);
const { default: QueueConfiguration } = require(`${dist}/queue/QueueConfiguration`);
const { default: TableServer } = require(`${dist}/table/TableServer`);
const { default: TableConfiguration } = require(`${dist}/table/TableConfiguration`);

/** The well-known Azurite development account: plays the customer's storage account. */
export const CUSTOMER_ACCOUNT = "devstoreaccount1";
const CUSTOMER_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/** A second account on the same Azurite: plays Microsoft's export storage. */
export const EXPORT_ACCOUNT = "msexportsim";

export interface AzuriteAccount {
  name: string;
  key: string;
  /** Full connection string with explicit blob, queue and table endpoints on 127.0.0.1. */
  connectionString: string;
  blobEndpoint: string;
}

export interface AzuriteEndpoints {
  host: string;
  blobPort: number;
  queuePort: number;
  tablePort: number;
  customer: AzuriteAccount;
  exporter: AzuriteAccount;
}

export interface RunningAzurite extends AzuriteEndpoints {
  close(): Promise<void>;
}

interface Server {
  start(): Promise<void>;
  close(): Promise<void>;
  clean(): Promise<void>;
  getHttpServerAddress(): string;
}

function account(name: string, key: string, host: string, ports: [number, number, number]): AzuriteAccount {
  const [blob, queue, table] = ports;
  const blobEndpoint = `http://${host}:${blob}/${name}`;
  return {
    name,
    key,
    blobEndpoint,
    connectionString:
      `DefaultEndpointsProtocol=http;AccountName=${name};AccountKey=${key};` +
      `BlobEndpoint=${blobEndpoint};QueueEndpoint=http://${host}:${queue}/${name};` +
      `TableEndpoint=http://${host}:${table}/${name};`,
  };
}

function endpoints(host: string, ports: [number, number, number], exportKey: string): AzuriteEndpoints {
  return {
    host,
    blobPort: ports[0],
    queuePort: ports[1],
    tablePort: ports[2],
    customer: account(CUSTOMER_ACCOUNT, CUSTOMER_KEY, host, ports),
    exporter: account(EXPORT_ACCOUNT, exportKey, host, ports),
  };
}

function portOf(server: Server): number {
  const address = server.getHttpServerAddress();
  const port = Number(new URL(address).port);
  if (!Number.isInteger(port) || port <= 0) throw new Error(`Azurite did not report a port: ${address}`);
  return port;
}

/**
 * Starts Blob, Queue and Table Azurite servers in this process, in memory, on free ports of
 * 127.0.0.1, with two accounts: the customer's and one that plays Microsoft's export storage.
 * The same host string is used for every client, since Azurite copies only between URLs whose host
 * matches its own.
 */
export async function startAzurite(options: { host?: string; exportKey?: string } = {}): Promise<RunningAzurite> {
  const host = options.host ?? "127.0.0.1";
  const exportKey = options.exportKey ?? randomBytes(64).toString("base64");
  process.env.AZURITE_ACCOUNTS = accountsSetting(exportKey);

  // replaces the default list, so the development account is listed again.
  const common = { keepAlive: 5, accessLog: false, debugLog: false, loose: true, skipApiVersionCheck: true };
  const blob: Server = new BlobServer(
    new BlobConfiguration(host, 0, common.keepAlive, "", "", [], common.accessLog, undefined, common.debugLog,
      undefined, common.loose, common.skipApiVersionCheck, "", "", "", undefined, false, true),
  );
  const queue: Server = new QueueServer(
    new QueueConfiguration(host, 0, common.keepAlive, "", "", [], common.accessLog, undefined, common.debugLog,
      undefined, common.loose, common.skipApiVersionCheck, "", "", "", undefined, false, true),
  );
  const table: Server = new TableServer(
    new TableConfiguration(host, 0, common.keepAlive, "", common.debugLog, common.accessLog, undefined, undefined,
      common.loose, common.skipApiVersionCheck, "", "", "", undefined, false, true),
  );
  const servers = [blob, queue, table];
  await Promise.all(servers.map((s) => s.start()));
  const ports: [number, number, number] = [portOf(blob), portOf(queue), portOf(table)];

  return {
    ...endpoints(host, ports, exportKey),
    async close() {
      await Promise.all(servers.map(async (s) => {
        await s.close();
        await s.clean();
      }));
    },
  };
}

function accountsSetting(exportKey: string): string {
  // AZURITE_ACCOUNTS replaces the default list, so the development account is listed again.
  return `${CUSTOMER_ACCOUNT}:${CUSTOMER_KEY};${EXPORT_ACCOUNT}:${exportKey}`;
}

async function freePort(host: string): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitForPort(host: string, port: number, deadline: number): Promise<void> {
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, host, () => {
        socket.end();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`Azurite did not open ${host}:${port} in time`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Azurite in a child process instead (same accounts and endpoints): for measurements of what this
 * process reads, which in-process Azurite would blur. Stopped by its PID.
 */
export async function spawnAzurite(options: { host?: string; exportKey?: string } = {}): Promise<RunningAzurite & { pid: number }> {
  const host = options.host ?? "127.0.0.1";
  const exportKey = options.exportKey ?? randomBytes(64).toString("base64");
  const ports: [number, number, number] = [await freePort(host), await freePort(host), await freePort(host)];
  const bin = fileURLToPath(new URL("../node_modules/azurite/dist/src/azurite.js", import.meta.url));
  const child = spawn(process.execPath, [bin, "--inMemoryPersistence", "--silent", "--loose", "--skipApiVersionCheck",
    "--blobHost", host, "--queueHost", host, "--tableHost", host,
    "--blobPort", String(ports[0]), "--queuePort", String(ports[1]), "--tablePort", String(ports[2])], {
    env: { ...process.env, AZURITE_ACCOUNTS: accountsSetting(exportKey) },
    stdio: "ignore",
  });
  if (child.pid === undefined) throw new Error("could not start Azurite");
  const deadline = Date.now() + 30_000;
  for (const port of ports) await waitForPort(host, port, deadline);
  return {
    ...endpoints(host, ports, exportKey),
    pid: child.pid,
    async close() {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
}
