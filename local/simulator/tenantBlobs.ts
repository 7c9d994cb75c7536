import { randomUUID } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
import {
  BlobSASPermissions,
  BlobServiceClient,
  generateBlobSASQueryParameters,
  SASProtocol,
  StorageSharedKeyCredential,
} from "@azure/storage-blob";
import type { AzuriteAccount } from "../azurite.js";
import type { SimulatedDataset, SimulatedExportFile } from "./dataset.js";
import { selects, type TenantFaults } from "./faults.js";

/** The blob faults, in the order they win when several select the same file. */
export type BlobFaultKind = "missing" | "empty" | "truncated" | "malformed";

/** One export file as it currently sits in the exporter account. */
export interface ServedExportFile extends SimulatedExportFile {
  /** Blob faults applied to it (empty: the original bytes). */
  faults: BlobFaultKind[];
}

/** A dataset uploaded into its own `temp-<guid>` container. */
export interface Snapshot {
  dataset: SimulatedDataset;
  container: string;
  /** Per file, what is in the exporter account now. */
  served: ServedExportFile[];
}

const MALFORMED = ['{"DeviceId":"malformed-line","DeviceName":', "this line is not JSON"];
const UPLOAD_PARALLELISM = 8;

/** The exporter account as the simulated tenant uses it: uploads, blob faults and SAS URLs. */
export class ExportStorage {
  private readonly service: BlobServiceClient;
  private readonly credential: StorageSharedKeyCredential;
  private queue: Promise<void> = Promise.resolve();

  /** `urlBase`: the account's blob endpoint as SAS URLs name it (default: the one it is reached at). */
  constructor(account: AzuriteAccount, private readonly urlBase?: string) {
    this.service = BlobServiceClient.fromConnectionString(account.connectionString);
    this.credential = new StorageSharedKeyCredential(account.name, account.key);
  }

  /** Uploads every file of the dataset into a fresh `temp-<guid>` container. */
  async upload(dataset: SimulatedDataset): Promise<Snapshot> {
    const container = `temp-${randomUUID()}`;
    const client = this.service.getContainerClient(container);
    await client.create();
    const files = dataset.files.map((file) => ({ ...file, faults: [] as BlobFaultKind[] }));
    await inParallel(files, UPLOAD_PARALLELISM, async (file) => {
      await client.getBlockBlobClient(file.path).uploadData(file.body);
    });
    return { dataset, container, served: files };
  }

  /**
   * Makes the blobs of the snapshot match the blob faults now set: altered, emptied, deleted, or
   * restored to the original bytes. Calls are serialised.
   */
  reconcile(snapshot: Snapshot, faults: TenantFaults): Promise<void> {
    const run = this.queue.then(() => this.reconcileNow(snapshot, faults));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async reconcileNow(snapshot: Snapshot, faults: TenantFaults): Promise<void> {
    const client = this.service.getContainerClient(snapshot.container);
    await inParallel(snapshot.dataset.files.map((file, index) => ({ file, index })), UPLOAD_PARALLELISM, async ({ file, index }) => {
      const wanted = blobFaultsFor(faults, index, file.path);
      const served = snapshot.served[index];
      if (served === undefined || served.faults.join() === wanted.join()) return;
      const blob = client.getBlockBlobClient(file.path);
      const next = alter(file, wanted);
      if (wanted.includes("missing")) await blob.deleteIfExists();
      else await blob.uploadData(next.body);
      snapshot.served[index] = next;
    });
  }

  /** Read-only SAS URLs, one per file, in the dataset's order. */
  sasUrls(snapshot: Snapshot, expiresOn: Date): string[] {
    const containerUrl = `${this.urlBase ?? this.service.url.replace(/\/$/, "")}/${snapshot.container}`;
    return snapshot.dataset.files.map((file) => {
      const sas = generateBlobSASQueryParameters(
        {
          containerName: snapshot.container,
          blobName: file.path,
          permissions: BlobSASPermissions.parse("r"),
          expiresOn,
          protocol: SASProtocol.HttpsAndHttp,
        },
        this.credential,
      );
      return `${containerUrl}/${blobUrlPath(file.path)}?${sas.toString()}`;
    });
  }

  async deleteContainer(name: string): Promise<void> {
    await this.service.getContainerClient(name).deleteIfExists();
  }
}

/** The blob path as Microsoft's URLs show it: segments escaped, but `=` left as it is. */
function blobUrlPath(path: string): string {
  return path.split("/").map((segment) => encodeURIComponent(segment).replaceAll("%3D", "=")).join("/");
}

function blobFaultsFor(faults: TenantFaults, index: number, path: string): BlobFaultKind[] {
  if (selects(faults.missingBlob, index, path)) return ["missing"];
  if (selects(faults.emptyBlob, index, path)) return ["empty"];
  const kinds: BlobFaultKind[] = [];
  if (selects(faults.truncatedGzip, index, path)) kinds.push("truncated");
  if (selects(faults.malformedLines, index, path)) kinds.push("malformed");
  return kinds;
}

/** The file as served with these faults (malformed lines are added before any truncation). */
export function alter(file: SimulatedExportFile, kinds: readonly BlobFaultKind[]): ServedExportFile {
  if (kinds.includes("missing") || kinds.includes("empty")) {
    return { ...file, body: Buffer.alloc(0), records: 0, truth: [], malformedLines: 0, faults: [...kinds] };
  }
  let { body, malformedLines } = file;
  if (kinds.includes("malformed")) {
    const added = withMalformedLines(body);
    body = added.body;
    malformedLines += added.malformedLines;
  }
  if (kinds.includes("truncated")) body = truncateGzip(body);
  return { ...file, body, malformedLines, faults: [...kinds] };
}

/** Inserts two malformed lines after the first line (a cut-off JSON object and a line of text). */
export function withMalformedLines(gzipBody: Buffer): { body: Buffer; malformedLines: number } {
  const text = gunzipSync(gzipBody).toString("utf8");
  const end = text.indexOf("\n");
  const head = end < 0 ? (text === "" ? "" : `${text}\n`) : text.slice(0, end + 1);
  const tail = end < 0 ? "" : text.slice(end + 1);
  const body = gzipSync(Buffer.from(`${head}${MALFORMED.join("\n")}\n${tail}`, "utf8"));
  return { body, malformedLines: MALFORMED.length };
}

/** Cuts the gzip stream in half: the complete data never arrives, nor the CRC and length trailer. */
export function truncateGzip(gzipBody: Buffer): Buffer {
  return gzipBody.subarray(0, Math.floor(gzipBody.length / 2));
}

async function inParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
