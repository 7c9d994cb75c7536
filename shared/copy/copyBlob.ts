import { BlobClient, type BlockBlobClient } from "@azure/storage-blob";
import { ExportFileError, statusOf } from "../errors.js";
import { redact, safeUrl } from "../redact.js";

export interface CopyOptions {
  /** Sources up to this size use one Copy Blob From URL; larger ones Put Block From URL in ranges. */
  blockThresholdBytes: number;
  blockSizeBytes: number;
  concurrency: number;
  metadata: Record<string, string>;
}

export interface CopyResult {
  bytes: number;
  /** Base64 MD5 of the content where the source has one, else "". */
  contentMD5: string;
  /** "copied" when this call copied, "present" when an identical copy was already there. */
  outcome: "copied" | "present";
  method: "copy-from-url" | "block-from-url" | "none";
}

interface SourceProperties {
  size: number;
  contentMD5: string;
  contentType: string;
  etag: string;
}

/** What the storage service or the network said: `409 CannotVerifyCopySource`, `ECONNRESET …`. */
function said(error: unknown): string {
  const e = error as { statusCode?: number; code?: string; message?: string };
  const parts = [e.statusCode, e.code].filter((x) => x !== undefined && x !== "");
  const text = parts.length > 0 ? parts.join(" ") : `network error: ${(e.message ?? String(error)).split("\n")[0]!.slice(0, 200)}`;
  return redact(text);
}

function md5(value: Uint8Array | undefined): string {
  return value ? Buffer.from(value).toString("base64") : "";
}

/** Source failures: 403 (expired SAS), 404 and an empty blob are the caller's to handle; they are not retried here. */
async function sourceProperties(sourceUrl: string, file: string): Promise<SourceProperties> {
  try {
    const props = await new BlobClient(sourceUrl).getProperties();
    return {
      size: props.contentLength ?? 0,
      contentMD5: md5(props.contentMD5),
      contentType: props.contentType ?? "application/gzip",
      etag: props.etag ?? "",
    };
  } catch (error) {
    const status = statusOf(error);
    if (status === 403) {
      throw new ExportFileError(`source refused access (403; the SAS has probably expired): ${safeUrl(sourceUrl)}`, file, "SourceExpired", true, { status, cause: error });
    }
    if (status === 404) {
      throw new ExportFileError(`source blob not found (404): ${safeUrl(sourceUrl)}`, file, "SourceMissing", false, { status, cause: error });
    }
    throw new ExportFileError(`could not read the source's properties (${said(error)}): ${safeUrl(sourceUrl)}`, file, "SourceUnavailable", true, { status, cause: error });
  }
}

async function destinationMatches(destination: BlockBlobClient, source: SourceProperties): Promise<boolean> {
  try {
    const props = await destination.getProperties();
    if (props.contentLength !== source.size) return false;
    return source.contentMD5 === "" || md5(props.contentMD5) === source.contentMD5;
  } catch (error) {
    if (statusOf(error) === 404) return false;
    throw error;
  }
}

function blockId(index: number): string {
  return Buffer.from(`block-${String(index).padStart(8, "0")}`).toString("base64");
}

async function inParallel(count: number, concurrency: number, work: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await work(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

/** Put Block From URL in ranges, then one commit that sets the source's content type, MD5 and our metadata. */
async function copyInBlocks(sourceUrl: string, destination: BlockBlobClient, source: SourceProperties, options: CopyOptions): Promise<void> {
  const blocks = Math.ceil(source.size / options.blockSizeBytes);
  const ids = Array.from({ length: blocks }, (_, i) => blockId(i));
  await inParallel(blocks, options.concurrency, async (i) => {
    const offset = i * options.blockSizeBytes;
    const count = Math.min(options.blockSizeBytes, source.size - offset);
    await destination.stageBlockFromURL(ids[i]!, sourceUrl, offset, count);
  });
  await destination.commitBlockList(ids, {
    blobHTTPHeaders: {
      blobContentType: source.contentType,
      blobContentMD5: source.contentMD5 ? Buffer.from(source.contentMD5, "base64") : undefined,
    },
    metadata: options.metadata,
  });
}

/**
 * Copies one export file into the customer's container server-side (the bytes never pass through
 * this process), then verifies the destination's length and MD5. An identical destination already
 * there (a repeated delivery, or a crash after the copy) is left as it is.
 */
export async function copyExportBlob(sourceUrl: string, destination: BlockBlobClient, file: string, options: CopyOptions): Promise<CopyResult> {
  const source = await sourceProperties(sourceUrl, file);
  if (source.size === 0) {
    throw new ExportFileError(`source blob is empty (200 OK with 0 bytes), so this file cannot be saved: ${safeUrl(sourceUrl)}`, file, "SourceEmpty", false);
  }
  if (await destinationMatches(destination, source)) {
    return { bytes: source.size, contentMD5: source.contentMD5, outcome: "present", method: "none" };
  }

  const method = source.size <= options.blockThresholdBytes ? "copy-from-url" : "block-from-url";
  try {
    if (method === "copy-from-url") {
      await destination.syncCopyFromURL(sourceUrl, {
        metadata: options.metadata,
        sourceConditions: source.etag ? { ifMatch: source.etag } : undefined,
        // The service checks the bytes it moved against the source's MD5: a verification of the
        // content itself, which nothing here could do without reading the file.
        sourceContentMD5: source.contentMD5 ? Buffer.from(source.contentMD5, "base64") : undefined,
      });
    } else {
      await copyInBlocks(sourceUrl, destination, source, options);
    }
  } catch (error) {
    if (error instanceof ExportFileError) throw error;
    const status = statusOf(error);
    // A 403 naming the copy source means the SAS expired between the check and the copy.
    const sourceRefused = status === 403 && /CannotVerifyCopySource|AuthenticationFailed|copy source/i.test(String((error as Error).message));
    throw new ExportFileError(
      sourceRefused
        ? `source refused the copy (403; the SAS has probably expired): ${safeUrl(sourceUrl)}`
        : `server-side copy (${method}) failed (${said(error)}) into ${destination.name}`,
      file,
      sourceRefused ? "SourceExpired" : "CopyFailed",
      status === undefined || sourceRefused || status === 408 || status === 409 || status === 412 || status === 429 || status >= 500,
      { status, cause: error },
    );
  }

  await verifyCopy(destination, { size: source.size, contentMD5: method === "copy-from-url" ? source.contentMD5 : "" }, file);
  return { bytes: source.size, contentMD5: source.contentMD5, outcome: "copied", method };
}

/**
 * Checks a copy against its source before it is marked copied: its length, and its MD5 when one is
 * given. NOTE: a block copy is checked by length only: its MD5 property is the one its commit set
 * from the source, so comparing the two would prove nothing (Put Block From URL has no whole-file
 * check; Copy Blob From URL had the service check the bytes against the source's MD5).
 */
export async function verifyCopy(destination: BlockBlobClient, source: { size: number; contentMD5: string }, file: string): Promise<void> {
  const props = await destination.getProperties();
  if (props.contentLength !== source.size) {
    throw new ExportFileError(`copy of ${destination.name} has ${props.contentLength} bytes, the source ${source.size}`, file, "VerifyFailed", true);
  }
  if (source.contentMD5 && md5(props.contentMD5) !== source.contentMD5) {
    throw new ExportFileError(`copy of ${destination.name} has MD5 ${md5(props.contentMD5) || "(none)"}, the source ${source.contentMD5}`, file, "VerifyFailed", true);
  }
}
