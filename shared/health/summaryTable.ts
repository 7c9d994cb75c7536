import { odata, type TableClient, type TableEntity, type TransactionAction } from "@azure/data-tables";
import { ensureError, statusOf } from "../errors.js";
import { createTableIfMissing } from "../storage.js";
import { line, type Logger } from "../log.js";
import { ALL, type Measure, MEASURES, type SummaryRow } from "./aggregate.js";
import { encodeRowKey } from "./rowKey.js";

/** Table Storage's limit of operations per transaction (all in one partition). */
const TRANSACTION_SIZE = 100;
/** The row every transaction of a day's writer carries, conditional on its ETag (see writeDailySummary). */
const CLAIM_KEY = encodeRowKey("all", ALL);
/** Starts over this many times when other writers keep taking the day, then gives up (the summary is retried). */
const MAX_WRITE_ATTEMPTS = 5;
/**
 * `Value` and `RbacGroupName` are cut to this many characters: 100 rows of them stay far below a
 * transaction's 4 MiB, and no real dimension value comes near it (the RowKey has its own limit).
 */
const MAX_TEXT_CHARS = 4096;
const DAY = /^\d{4}-\d{2}-\d{2}$/;

export interface WriteSummaryResult {
  upserted: number;
  deleted: number;
  /** Set when the day was left as it is, to the rows of this newer snapshot (ISO time). */
  newerSnapshot?: string;
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
 * Writes one day of DeviceHealthDaily (PartitionKey = `day`, YYYY-MM-DD) for one snapshot: upserts
 * (replace) every row in transactions of up to 100, then deletes the rows of that day this snapshot
 * did not produce, so a rerun of the day replaces the day. Rows are written before any are removed:
 * a reader never sees the day empty. Creates the table when it is missing.
 *
 * A day belongs to its latest snapshot, and its `all|all` row says whose it is. The writer reads that
 * row first and leaves the day alone when a newer snapshot wrote it. Every transaction it then
 * submits carries that row too, conditional on the ETag it last saw, so two snapshots' writers never
 * interleave: when another writer got in between, the transaction fails whole, and this one reads
 * the row again and starts over, or leaves the day to the newer snapshot.
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
  const claim = entities.find((entity) => entity.rowKey === CLAIM_KEY);
  if (!claim) throw new Error(`The summary rows of ${day} have no "${CLAIM_KEY}" row: every snapshot's rows include it.`);
  const others = entities.filter((entity) => entity !== claim);

  await createTableIfMissing(tableClient);
  for (let attempt = 1; ; attempt++) {
    const current = await readClaim(tableClient, day);
    if (current && current.snapshotTime > claim.SnapshotTime.getTime()) {
      const newerSnapshot = new Date(current.snapshotTime).toISOString();
      logger.info(line("writeDailySummary", "left", day, { table: tableClient.tableName, newerSnapshot }));
      return { upserted: 0, deleted: 0, newerSnapshot };
    }
    try {
      const deleted = await writeClaimed(tableClient, day, claim, others, keys, current?.etag);
      logger.info(line("writeDailySummary", "wrote", day, { table: tableClient.tableName, rows: entities.length, deleted, attempts: attempt, elapsedMs: Date.now() - started }));
      return { upserted: entities.length, deleted };
    } catch (error) {
      const status = statusOf(error);
      // 412: the claim row changed since it was read; 409: it was created since it was found missing.
      if ((status !== 412 && status !== 409) || attempt === MAX_WRITE_ATTEMPTS) throw error;
      logger.warn(line("writeDailySummary", "restarted", day, { table: tableClient.tableName, attempt, reason: "another summary wrote the day meanwhile" }));
    }
  }
}

/** The day's claim row: its ETag and the snapshot time it carries; undefined when the day has no rows yet. */
async function readClaim(tableClient: TableClient, day: string): Promise<{ etag: string; snapshotTime: number } | undefined> {
  try {
    const entity = await tableClient.getEntity<{ SnapshotTime?: Date | string }>(day, CLAIM_KEY);
    const time = entity.SnapshotTime === undefined ? NaN : new Date(entity.SnapshotTime).getTime();
    return { etag: entity.etag, snapshotTime: time };
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw error;
  }
}

/**
 * The writes of one attempt. The claim row goes first in every transaction (so its sub-response, and
 * the ETag to hold for the next one, comes first): created when the day had none, else replaced if
 * still at `etag`. Returns how many stale rows were deleted.
 */
async function writeClaimed(
  tableClient: TableClient,
  day: string,
  claim: SummaryEntity,
  others: readonly SummaryEntity[],
  keys: ReadonlySet<string>,
  etag: string | undefined,
): Promise<number> {
  const chunk = TRANSACTION_SIZE - 1;
  const submit = async (actions: TransactionAction[], what: string, first: number, total: number): Promise<void> => {
    const held: TransactionAction = etag === undefined ? ["create", claim] : ["update", claim, "Replace", { etag }];
    etag = await submitTransaction(tableClient, day, [held, ...actions], what, first, total);
  };
  for (let start = 0; start === 0 || start < others.length; start += chunk) {
    const batch = others.slice(start, start + chunk);
    await submit(batch.map((entity): TransactionAction => ["upsert", entity, "Replace"]), "upsert", start, others.length);
  }

  const stale: TransactionAction[] = [];
  const existing = tableClient.listEntities<object>({
    queryOptions: { filter: odata`PartitionKey eq ${day}`, select: ["RowKey"] },
  });
  for await (const entity of existing) {
    if (entity.rowKey !== undefined && !keys.has(entity.rowKey)) stale.push(["delete", { partitionKey: day, rowKey: entity.rowKey }]);
  }
  for (let start = 0; start < stale.length; start += chunk) {
    await submit(stale.slice(start, start + chunk), "delete", start, stale.length);
  }
  return stale.length;
}

/** One transaction; returns the ETag of its first entity. Errors name the day, table and rows, and keep the status. */
async function submitTransaction(tableClient: TableClient, day: string, actions: TransactionAction[], what: string, first: number, total: number): Promise<string> {
  let response;
  try {
    response = await tableClient.submitTransaction(actions);
  } catch (error) {
    const cause = ensureError(error);
    const rows = actions.length > 1 ? `rows ${first + 1}-${first + actions.length - 1} of ${total}` : "no other rows";
    throw Object.assign(new Error(`DeviceHealthDaily ${what} of day ${day} failed in table "${tableClient.tableName}" (${rows}): ${cause.message}`, { cause }), {
      statusCode: statusOf(cause),
    });
  }
  const etag = response.subResponses[0]?.etag?.trim();
  if (!etag) throw new Error(`DeviceHealthDaily ${what} of day ${day}: the transaction's answer carries no ETag for the "${CLAIM_KEY}" row.`);
  return etag;
}
