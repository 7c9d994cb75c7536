import { odata, type TableClient, type TableEntity, type TransactionAction } from "@azure/data-tables";
import { ensureError } from "../errors.js";
import { line, type Logger } from "../log.js";
import { type Measure, MEASURES, type SummaryRow } from "./aggregate.js";
import { encodeRowKey } from "./rowKey.js";

/** Table Storage's limit of operations per transaction (all in one partition). */
const TRANSACTION_SIZE = 100;
/**
 * `Value` and `RbacGroupName` are cut to this many characters: 100 rows of them stay far below a
 * transaction's 4 MiB, and no real dimension value comes near it (the RowKey has its own limit).
 */
const MAX_TEXT_CHARS = 4096;
const DAY = /^\d{4}-\d{2}-\d{2}$/;

export interface WriteSummaryResult {
  upserted: number;
  deleted: number;
}

type Int32 = { value: number; type: "Int32" };
type Int64 = { value: string; type: "Int64" };

/**
 * One DeviceHealthDaily entity. Counts are Edm.Int32, RbacGroupId Edm.Int64, SnapshotTime Edm.DateTime
 * (the types Power BI's Azure Table Storage connector maps to whole numbers and date/times).
 */
type SummaryEntity = TableEntity<{
  Dimension: string;
  Value: string;
  RbacGroupId?: Int64;
  RbacGroupName?: string;
  SnapshotTime: Date;
  RunId: string;
  Partial: boolean;
} & Record<Measure, Int32>>;

function toEntity(day: string, row: SummaryRow): SummaryEntity {
  const entity: SummaryEntity = {
    partitionKey: day,
    rowKey: encodeRowKey(row.dimension, row.value),
    Dimension: row.dimension,
    Value: row.value.slice(0, MAX_TEXT_CHARS),
    SnapshotTime: new Date(row.snapshotTime),
    RunId: row.runId,
    Partial: row.partial,
    ...(Object.fromEntries(MEASURES.map((m) => [m, { value: row.measures[m], type: "Int32" }])) as Record<Measure, Int32>),
  };
  if (row.rbacGroupId !== null) entity.RbacGroupId = { value: String(row.rbacGroupId), type: "Int64" };
  if (row.rbacGroupName !== null) entity.RbacGroupName = row.rbacGroupName.slice(0, MAX_TEXT_CHARS);
  return entity;
}

/**
 * Writes one day of DeviceHealthDaily (PartitionKey = `day`, YYYY-MM-DD): upserts (replace) every row
 * in transactions of up to 100, then deletes the rows of that day this run did not produce, so a
 * rerun of the day replaces the day. Rows are written before any are removed: a reader never sees
 * the day empty. Creates the table when it is missing.
 */
export async function writeDailySummary(
  tableClient: TableClient,
  day: string,
  rows: readonly SummaryRow[],
  logger: Logger,
): Promise<WriteSummaryResult> {
  if (!DAY.test(day)) throw new Error(`writeDailySummary needs a day as YYYY-MM-DD, got "${day}".`);
  const started = Date.now();
  const entities = rows.map((row) => toEntity(day, row));
  const keys = new Set<string>();
  for (const entity of entities) {
    if (keys.has(entity.rowKey)) throw new Error(`Two summary rows of ${day} have the same RowKey "${entity.rowKey}": rows must be unique by dimension and value.`);
    keys.add(entity.rowKey);
  }

  await createTableIfMissing(tableClient);
  await submitInBatches(tableClient, day, entities.map((entity): TransactionAction => ["upsert", entity, "Replace"]), "upsert");

  const stale: TransactionAction[] = [];
  const existing = tableClient.listEntities<object>({
    queryOptions: { filter: odata`PartitionKey eq ${day}`, select: ["RowKey"] },
  });
  for await (const entity of existing) {
    if (entity.rowKey !== undefined && !keys.has(entity.rowKey)) stale.push(["delete", { partitionKey: day, rowKey: entity.rowKey }]);
  }
  await submitInBatches(tableClient, day, stale, "delete");

  logger.info(line("writeDailySummary", "wrote", day, { table: tableClient.tableName, rows: entities.length, deleted: stale.length, elapsedMs: Date.now() - started }));
  return { upserted: entities.length, deleted: stale.length };
}

async function createTableIfMissing(tableClient: TableClient): Promise<void> {
  try {
    await tableClient.createTable();
  } catch (error) {
    // NOTE: errors of single calls carry statusCode but may have code undefined.
    if ((error as { statusCode?: number }).statusCode !== 409) throw error;
  }
}

async function submitInBatches(tableClient: TableClient, day: string, actions: TransactionAction[], what: string): Promise<void> {
  for (let start = 0; start < actions.length; start += TRANSACTION_SIZE) {
    const batch = actions.slice(start, start + TRANSACTION_SIZE);
    try {
      await tableClient.submitTransaction(batch);
    } catch (error) {
      const cause = ensureError(error);
      throw new Error(
        `DeviceHealthDaily ${what} of day ${day} failed in table "${tableClient.tableName}" (rows ${start + 1}-${start + batch.length} of ${actions.length}): ${cause.message}`,
        { cause },
      );
    }
  }
}
