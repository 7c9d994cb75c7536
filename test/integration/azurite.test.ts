import { BlobSASPermissions, BlobServiceClient } from "@azure/storage-blob";
import { describe, expect, inject, it } from "vitest";

describe("in-process Azurite", () => {
  it("copies a blob from the export account into the customer account server-side", async () => {
    const { customer, exporter } = inject("azurite");
    const src = BlobServiceClient.fromConnectionString(exporter.connectionString).getContainerClient(`src${Date.now()}`);
    await src.create();
    const blob = src.getBlockBlobClient("a.json.gz");
    await blob.upload("hello", 5);
    const dst = BlobServiceClient.fromConnectionString(customer.connectionString).getContainerClient(`dst${Date.now()}`);
    await dst.create();
    const sas = await blob.generateSasUrl({ permissions: BlobSASPermissions.parse("r"), expiresOn: new Date(Date.now() + 3600_000) });
    await dst.getBlockBlobClient("a.json.gz").syncCopyFromURL(sas);
    const copied = await dst.getBlockBlobClient("a.json.gz").downloadToBuffer();
    expect(copied.toString()).toBe("hello");
  });
});
