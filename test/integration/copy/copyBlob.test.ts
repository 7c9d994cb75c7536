import { createHash, randomBytes, randomUUID } from "node:crypto";
import { BlobSASPermissions, BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { copyExportBlob, verifyCopy, type CopyOptions } from "../../../shared/copy/copyBlob.js";
import { ExportFileError } from "../../../shared/errors.js";

let source: ContainerClient;
let destination: ContainerClient;

beforeAll(async () => {
  const { customer, exporter } = inject("azurite");
  source = BlobServiceClient.fromConnectionString(exporter.connectionString).getContainerClient(`src-${randomUUID()}`);
  destination = BlobServiceClient.fromConnectionString(customer.connectionString).getContainerClient(`dst-${randomUUID()}`);
  await Promise.all([source.create(), destination.create()]);
});

async function sourceBlob(name: string, body: Buffer, expiresInMs = 3600_000): Promise<string> {
  const blob = source.getBlockBlobClient(name);
  await blob.uploadData(body, { blobHTTPHeaders: { blobContentType: "application/gzip", blobContentMD5: createHash("md5").update(body).digest() } });
  return blob.generateSasUrl({ permissions: BlobSASPermissions.parse("r"), startsOn: new Date(Date.now() - 60_000), expiresOn: new Date(Date.now() + expiresInMs) });
}

const options = (threshold: number): CopyOptions => ({
  blockThresholdBytes: threshold,
  blockSizeBytes: 64 * 1024,
  concurrency: 4,
  metadata: { runid: "20261201T0200Z" },
});

async function expectCopyError(promise: Promise<unknown>, code: string): Promise<ExportFileError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(ExportFileError);
  expect((error as ExportFileError).code).toBe(code);
  expect((error as Error).message).not.toMatch(/sig=/);
  return error as ExportFileError;
}

describe("copyExportBlob", () => {
  it("copies a file under the threshold with one Copy Blob From URL, byte-identical", async () => {
    const body = randomBytes(100_000);
    const url = await sourceBlob("small.json.gz", body);
    const dest = destination.getBlockBlobClient("raw/small.json.gz");
    const result = await copyExportBlob(url, dest, "small", options(1024 * 1024));
    expect(result).toMatchObject({ outcome: "copied", method: "copy-from-url", bytes: body.length });
    expect((await dest.downloadToBuffer()).equals(body)).toBe(true);
    expect((await dest.getProperties()).metadata).toMatchObject({ runid: "20261201T0200Z" });
  });

  it("copies a file over the threshold in parallel Put Block From URL ranges, setting type, MD5 and metadata", async () => {
    const body = randomBytes(300_000); // 5 blocks of 64 KiB
    const url = await sourceBlob("large.json.gz", body);
    const dest = destination.getBlockBlobClient("raw/large.json.gz");
    const result = await copyExportBlob(url, dest, "large", options(100_000));
    expect(result).toMatchObject({ outcome: "copied", method: "block-from-url", bytes: body.length });
    expect((await dest.downloadToBuffer()).equals(body)).toBe(true);
    const props = await dest.getProperties();
    expect(props.contentType).toBe("application/gzip");
    expect(Buffer.from(props.contentMD5 ?? []).toString("base64")).toBe(createHash("md5").update(body).digest("base64"));
    expect(props.metadata).toMatchObject({ runid: "20261201T0200Z" });
    const blocks = await dest.getBlockList("committed");
    expect(blocks.committedBlocks).toHaveLength(5);
  });

  it("leaves an identical copy alone on a repeated delivery", async () => {
    const body = randomBytes(10_000);
    const url = await sourceBlob("again.json.gz", body);
    const dest = destination.getBlockBlobClient("raw/again.json.gz");
    await copyExportBlob(url, dest, "again", options(1024 * 1024));
    const before = (await dest.getProperties()).etag;
    const second = await copyExportBlob(url, dest, "again", options(1024 * 1024));
    expect(second.outcome).toBe("present");
    expect((await dest.getProperties()).etag).toBe(before);
  });

  it("refuses an empty 200 OK source: an empty file is an error, never a success", async () => {
    const url = await sourceBlob("empty.json.gz", Buffer.alloc(0));
    const dest = destination.getBlockBlobClient("raw/empty.json.gz");
    const error = await expectCopyError(copyExportBlob(url, dest, "empty", options(1024)), "SourceEmpty");
    expect(error.retriable).toBe(false);
    expect(await dest.exists()).toBe(false);
  });

  it("reports a missing source as not found, and an expired SAS as expired", async () => {
    const missing = await sourceBlob("gone.json.gz", Buffer.from("x"));
    await source.getBlockBlobClient("gone.json.gz").delete();
    await expectCopyError(copyExportBlob(missing, destination.getBlockBlobClient("raw/gone"), "gone", options(1024)), "SourceMissing");

    const expired = await sourceBlob("expired.json.gz", Buffer.from("x"), -1000);
    const error = await expectCopyError(copyExportBlob(expired, destination.getBlockBlobClient("raw/expired"), "expired", options(1024)), "SourceExpired");
    expect(error.retriable).toBe(true);
  });

  it("refuses to call a copy verified when its length or MD5 is not the source's", async () => {
    const body = randomBytes(5_000);
    const dest = destination.getBlockBlobClient("raw/verify.json.gz");
    await dest.uploadData(body, { blobHTTPHeaders: { blobContentMD5: createHash("md5").update(body).digest() } });
    const md5 = createHash("md5").update(body).digest("base64");
    await verifyCopy(dest, { size: body.length, contentMD5: md5 }, "verify");
    const short = await expectCopyError(verifyCopy(dest, { size: body.length + 1, contentMD5: md5 }, "verify"), "VerifyFailed");
    expect(short.message).toBe(`copy of raw/verify.json.gz has ${body.length} bytes, the source ${body.length + 1}`);
    const other = createHash("md5").update("other").digest("base64");
    const wrong = await expectCopyError(verifyCopy(dest, { size: body.length, contentMD5: other }, "verify"), "VerifyFailed");
    expect(wrong.message).toBe(`copy of raw/verify.json.gz has MD5 ${md5}, the source ${other}`);
  });

  it("names what the storage service said when a copy fails", async () => {
    const url = await sourceBlob("lease.json.gz", randomBytes(2_000));
    const dest = destination.getBlockBlobClient("raw/leased.json.gz");
    await dest.uploadData(Buffer.from("held"));
    await dest.getBlobLeaseClient().acquireLease(60);
    const error = await expectCopyError(copyExportBlob(url, dest, "leased", options(1024 * 1024)), "CopyFailed");
    expect(error.message).toMatch(/^server-side copy \(copy-from-url\) failed \(412 LeaseIdMissing\) into raw\/leased.json.gz$/);
  });
});
