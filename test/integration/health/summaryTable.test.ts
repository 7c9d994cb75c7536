import { randomBytes } from "node:crypto";
import { TableClient, type TableServiceClientOptions } from "@azure/data-tables";
import { BlobServiceClient } from "@azure/storage-blob";
import { describe, expect, inject, it } from "vitest";
import { MEASURES, type Measures, type SummaryRow } from "../../../shared/health/aggregate.js";
import { decodeRowKey } from "../../../shared/health/rowKey.js";
import { writeDailySummary } from "../../../shared/health/summaryTable.js";
import { summariseSnapshot } from "../../../shared/health/summariseSnapshot.js";
import { writeQuarantine } from "../../../shared/health/writeQuarantine.js";
import { MemoryLogger } from "../../../shared/log.js";
import { gzipLines, variedFileRecord } from "../../unit/health/fixtures.js";

const unique = (prefix: string) => `${prefix}${randomBytes(6).toString("hex")}`;

function table(): TableClient {
  const { customer } = inject("azurite");
  return TableClient.fromConnectionString(customer.connectionString, unique("DeviceHealthDaily"), { allowInsecureConnection: true });
}

function measures(devices: number): Measures {
  return Object.fromEntries(MEASURES.map((m, i) => [m, m === "Devices" ? devices : i])) as Measures;
}

function summaryRow(dimension: SummaryRow["dimension"], value: string, devices = 1, group?: { id: number | null; name: string | null }): SummaryRow {
  return {
    dimension,
    value,
    rbacGroupId: group?.id ?? null,
    rbacGroupName: group?.name ?? null,
    measures: measures(devices),
    snapshotTime: "2026-12-01T02:00:00.000Z",
    runId: "run-1",
    partial: false,
  };
}

async function partition(client: TableClient, day: string): Promise<Array<Record<string, unknown> & { rowKey: string }>> {
  const out: Array<Record<string, unknown> & { rowKey: string }> = [];
  for await (const e of client.listEntities<Record<string, unknown>>({ queryOptions: { filter: `PartitionKey eq '${day}'` } })) {
    out.push(e as Record<string, unknown> & { rowKey: string });
  }
  return out;
}

const AWKWARD = [
  "EU/West",
  "C:\\Servers",
  "Team #1?",
  "100% O'Brien",
  "tilde ~7E not an escape",
  "pipe | inside",
  "tab\tand\u0001control\u007f\u0085",
  "Ünïcødé 日本 😀",
  "''",
  "%",
  "%25",
  " leading and trailing ",
  "G".repeat(700),
];

describe("writeDailySummary", () => {
  it("creates the table and writes one entity per row with Power BI-friendly types", async () => {
    const client = table();
    const logger = new MemoryLogger();
    const result = await writeDailySummary(client, "2026-12-01", [summaryRow("all", "all", 5), summaryRow("rbacGroup", "Servers-EU (412)", 3, { id: 412, name: "Servers-EU" })], logger);
    expect(result).toEqual({ upserted: 2, deleted: 0 });
    expect(logger.lines).toEqual([expect.stringMatching(/^info writeDailySummary wrote "2026-12-01" table=\w+ rows=2 deleted=0 attempts=1 elapsedMs=\d+$/)]);

    const typed = await client.getEntity<Record<string, { value: unknown; type: string }>>("2026-12-01", "rbacGroup|Servers-EU (412)", { disableTypeConversion: true });
    expect(typed.Devices?.type).toBe("Int32");
    expect(Number(typed.Devices?.value)).toBe(3);
    expect(typed.FullyUpToDate?.type).toBe("Int32");
    expect(typed.RbacGroupId).toEqual({ value: "412", type: "Int64" });
    expect(typed.SnapshotTime).toMatchObject({ type: "DateTime" });
    expect(typed.Partial?.type).toBe("Boolean");

    const plain = await client.getEntity<Record<string, unknown>>("2026-12-01", "all|all");
    expect(plain).toMatchObject({ Dimension: "all", Value: "all", RunId: "run-1", Devices: 5, Partial: false });
    expect(plain.SnapshotTime).toEqual(new Date("2026-12-01T02:00:00.000Z"));
    expect(plain.RbacGroupId).toBeUndefined();
    for (const m of MEASURES) expect(typeof plain[m]).toBe("number");
  });

  it("replaces the day on a rerun: rows not produced again are deleted, other days are left alone", async () => {
    const client = table();
    const many = Array.from({ length: 250 }, (_, i) => summaryRow("avSignatureVersion", `1.421.${i}.0`, i + 1));
    await writeDailySummary(client, "2026-12-01", [summaryRow("all", "all", 9), ...many], new MemoryLogger());
    await writeDailySummary(client, "2026-11-30", [summaryRow("all", "all", 8)], new MemoryLogger());
    expect(await partition(client, "2026-12-01")).toHaveLength(251);

    const kept = many.slice(0, 40).map((r) => ({ ...r, runId: "run-2", measures: measures(1000) }));
    const result = await writeDailySummary(client, "2026-12-01", [summaryRow("all", "all", 7), ...kept], new MemoryLogger());
    expect(result).toEqual({ upserted: 41, deleted: 210 });

    const day = await partition(client, "2026-12-01");
    expect(day).toHaveLength(41);
    expect(day.filter((e) => e.Dimension === "avSignatureVersion").every((e) => e.RunId === "run-2" && e.Devices === 1000)).toBe(true);
    expect(day.find((e) => e.rowKey === "all|all")?.Devices).toBe(7);
    expect(await partition(client, "2026-11-30")).toHaveLength(1);

    // Once more with the same rows: nothing to delete, same content.
    expect(await writeDailySummary(client, "2026-12-01", [summaryRow("all", "all", 7), ...kept], new MemoryLogger())).toEqual({ upserted: 41, deleted: 0 });
  });

  it("round-trips awkward group names through real Table Storage, and deletes them on a rerun", async () => {
    const client = table();
    const rows = AWKWARD.map((name, i) => summaryRow("rbacGroup", `${name} (${i})`, i + 1, { id: i, name }));
    await writeDailySummary(client, "2026-12-01", [summaryRow("all", "all", 1), ...rows], new MemoryLogger());

    const stored = (await partition(client, "2026-12-01")).filter((e) => e.rowKey !== "all|all");
    expect(stored).toHaveLength(AWKWARD.length);
    for (const entity of stored) {
      const decoded = decodeRowKey(entity.rowKey);
      expect(decoded.dimension).toBe("rbacGroup");
      if (decoded.truncated) expect(String(entity.Value).startsWith(decoded.value)).toBe(true);
      else expect(decoded.value).toBe(entity.Value);
    }
    expect(stored.map((e) => e.RbacGroupName).sort()).toEqual([...AWKWARD].sort());
    for (const row of rows) {
      const found = stored.find((e) => e.Value === row.value);
      expect(found?.Devices).toBe(row.measures.Devices);
    }

    const result = await writeDailySummary(client, "2026-12-01", [summaryRow("all", "all", 1)], new MemoryLogger());
    expect(result.deleted).toBe(AWKWARD.length);
    expect((await partition(client, "2026-12-01")).map((e) => e.rowKey)).toEqual(["all|all"]);
  });

  it("refuses a day that is not YYYY-MM-DD and rows that would share a RowKey", async () => {
    const client = table();
    await expect(writeDailySummary(client, "2026-12-1", [], new MemoryLogger())).rejects.toThrow(/YYYY-MM-DD/);
    await expect(writeDailySummary(client, "2026-12-01", [summaryRow("osKind", "linux"), summaryRow("osKind", "linux")], new MemoryLogger())).rejects.toThrow(/same RowKey/);
    await expect(writeDailySummary(client, "2026-12-01", [summaryRow("osKind", "linux")], new MemoryLogger())).rejects.toThrow(/no "all\|all" row/);
  });

  describe("a day belongs to its latest snapshot", () => {
    const at = (time: string, runId: string, devices: number, count: number) => [
      { ...summaryRow("all", "all", devices), snapshotTime: time, runId },
      ...Array.from({ length: count }, (_, i) => ({ ...summaryRow("avSignatureVersion", `1.${runId}.${i}`, devices), snapshotTime: time, runId })),
    ];
    const older = () => at("2026-12-01T02:00:00.000Z", "older", 5, 250);
    const newer = () => at("2026-12-01T14:00:00.000Z", "newer", 7, 120);

    /** A client on the same table that runs `between` once, just before its `n`-th transaction is sent. */
    function interruptedBefore(base: TableClient, n: number, between: () => Promise<unknown>): TableClient {
      const { customer } = inject("azurite");
      let transactions = 0;
      const policy: NonNullable<TableServiceClientOptions["additionalPolicies"]>[number]["policy"] = {
        name: "interleave",
        sendRequest: async (request, next) => {
          if (request.url.includes("$batch") && ++transactions === n) await between();
          return next(request);
        },
      };
      return TableClient.fromConnectionString(customer.connectionString, base.tableName, {
        allowInsecureConnection: true,
        additionalPolicies: [{ policy, position: "perCall" }],
      });
    }

    const runIds = async (client: TableClient) => [...new Set((await partition(client, "2026-12-01")).map((e) => e.RunId))];

    it("an older snapshot leaves the day as the newer one wrote it", async () => {
      const client = table();
      await writeDailySummary(client, "2026-12-01", newer(), new MemoryLogger());
      const logger = new MemoryLogger();
      expect(await writeDailySummary(client, "2026-12-01", older(), logger)).toEqual({ upserted: 0, deleted: 0, newerSnapshot: "2026-12-01T14:00:00.000Z" });
      expect(logger.lines).toEqual([expect.stringMatching(/^info writeDailySummary left "2026-12-01" table=\w+ newerSnapshot=2026-12-01T14:00:00.000Z$/)]);
      expect(await runIds(client)).toEqual(["newer"]);
      expect(await partition(client, "2026-12-01")).toHaveLength(121);
    });

    it("an older snapshot's writer overtaken half-way by a newer one stops, and the day is the newer one's alone", async () => {
      const client = table();
      const writer = interruptedBefore(client, 2, () => writeDailySummary(client, "2026-12-01", newer(), new MemoryLogger()));
      const logger = new MemoryLogger();
      // The older writer's first transaction (100 rows) lands before the newer one starts.
      expect(await writeDailySummary(writer, "2026-12-01", older(), logger)).toMatchObject({ newerSnapshot: "2026-12-01T14:00:00.000Z" });
      expect(logger.lines[0]).toMatch(/^warn writeDailySummary restarted "2026-12-01" .*attempt=1/);
      const day = await partition(client, "2026-12-01");
      expect(await runIds(client)).toEqual(["newer"]);
      expect(day).toHaveLength(121);
      expect(day.find((e) => e.rowKey === "all|all")?.Devices).toBe(7);
    });

    it("a writer whose transaction met another write of the same snapshot starts over and completes the day", async () => {
      const client = table();
      await writeDailySummary(client, "2026-12-01", older(), new MemoryLogger());
      const again = newer().map((r) => ({ ...r, runId: "newer-again" }));
      // Before its delete transactions: the other writer of the same snapshot already wrote everything.
      const writer = interruptedBefore(client, 3, () => writeDailySummary(client, "2026-12-01", again, new MemoryLogger()));
      const logger = new MemoryLogger();
      expect(await writeDailySummary(writer, "2026-12-01", newer(), logger)).toEqual({ upserted: 121, deleted: 0 });
      expect(logger.lines.at(-1)).toMatch(/^info writeDailySummary wrote "2026-12-01" .*rows=121 deleted=0 attempts=2 /);
      expect(await runIds(client)).toEqual(["newer"]);
      expect(await partition(client, "2026-12-01")).toHaveLength(121);
    });
  });
});

describe("the summary end to end", () => {
  it("reads gzip files from blob storage, writes the day's rows and the quarantine sample", async () => {
    const { customer } = inject("azurite");
    const container = BlobServiceClient.fromConnectionString(customer.connectionString).getContainerClient(unique("health"));
    await container.create();
    const prefix = "raw/date=2026-12-01/generated=20261201T0200Z";
    const lines = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => JSON.stringify(variedFileRecord(from + i)));
    await container.getBlockBlobClient(`${prefix}/rbacGroupId=1/part-0.json.gz`).uploadData(gzipLines([...lines(0, 600), "{broken"]));
    await container.getBlockBlobClient(`${prefix}/rbacGroupId=2/part-0.json.gz`).uploadData(gzipLines(lines(500, 1000)));

    const files = [];
    for await (const blob of container.listBlobsFlat({ prefix: `${prefix}/` })) {
      const client = container.getBlobClient(blob.name);
      files.push({ name: blob.name, open: async () => (await client.download()).readableStreamBody as NodeJS.ReadableStream as import("node:stream").Readable });
    }
    const logger = new MemoryLogger();
    const { rows, stats } = await summariseSnapshot({ files, generatedTime: "2026-12-01T02:00:00Z", runId: "run-e2e", parallelism: 2, quarantineSampleLines: 10, logger });
    expect(stats).toMatchObject({ filesRead: 2, recordsRead: 1101, devices: 1000, duplicates: 100, malformedLines: 1, failedFiles: [] });

    await writeQuarantine(container, `${prefix}/_quarantine.json`, stats.malformedSample);
    const quarantine = JSON.parse((await container.getBlockBlobClient(`${prefix}/_quarantine.json`).downloadToBuffer()).toString());
    expect(quarantine).toEqual({ count: 1, lines: [{ file: `${prefix}/rbacGroupId=1/part-0.json.gz`, line: 601, head: "{broken", reason: expect.stringMatching(/^not JSON/) }] });

    const client = table();
    await writeDailySummary(client, "2026-12-01", rows, logger);
    const stored = await partition(client, "2026-12-01");
    expect(stored).toHaveLength(rows.length);
    expect(stored.find((e) => e.rowKey === "all|all")?.Devices).toBe(1000);
  });
});
