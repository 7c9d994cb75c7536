import type { ContainerClient } from "@azure/storage-blob";
import type { MalformedLine } from "./reader.js";

/**
 * Writes the sample of malformed lines as one JSON blob at `path` (e.g. the snapshot's
 * `_quarantine.json`), replacing any earlier one: `{ "count": n, "lines": [{ file, line, head, reason }] }`.
 */
export async function writeQuarantine(containerClient: ContainerClient, path: string, sample: readonly MalformedLine[]): Promise<void> {
  const text = JSON.stringify({ count: sample.length, lines: sample }, null, 2);
  await containerClient.getBlockBlobClient(path).upload(text, Buffer.byteLength(text), {
    blobHTTPHeaders: { blobContentType: "application/json; charset=utf-8" },
  });
}
