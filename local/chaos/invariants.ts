import { createHash } from "node:crypto";
import { gunzipSync } from "node:zlib";
import type { TableClient } from "@azure/data-tables";
import type { ContainerClient } from "@azure/storage-blob";
import { MEASURES } from "../../shared/health/aggregate.js";
import type { DeviceHealthRecord } from "../../shared/health/record.js";
import { destinationOf, fileKeyOf, manifestPath } from "../../shared/runs/layout.js";
import { FINAL_RUN_STATES, type FileRow, type RunRow } from "../../shared/runs/runStore.js";
import type { SimulatedDataset, SimulatedExportFile } from "../simulator/dataset.js";
import { alter, type BlobFaultKind } from "../simulator/tenantBlobs.js";
import { compareRows, expectedRows, latestPerDevice, type ExpectedRows } from "./recount.js";

/** What the checks read back from the customer's storage after a phase. */
export interface Observed {
  runs: RunRow[];
  files: Map<string, FileRow[]>;
  /** Every blob of the container: its bytes, ETag and metadata. */
  blobs: Map<string, { body: Buffer; etag: string; metadata: Record<string, string> }>;
  /** DeviceHealthDaily by day: `<Dimension>|<Value>` → the entity. */
  days: Map<string, Map<string, Record<string, unknown>>>;
  /** Every entity of both tables, as text (for the secrets check). */
  tableText: string;
}

export async function observe(container: ContainerClient, runsTable: TableClient, summaryTable: TableClient): Promise<Observed> {
  const runs: RunRow[] = [];
  const files = new Map<string, FileRow[]>();
  const texts: string[] = [];
  for await (const entity of runsTable.listEntities<Record<string, unknown>>()) {
    texts.push(text(entity));
    const row = { ...entity } as Record<string, unknown>;
    for (const key of ["Bytes", "Records", "Devices", "Duplicates", "MalformedLines"]) if (row[key] !== undefined) row[key] = Number(row[key]);
    if (row.Kind === "run") runs.push(row as unknown as RunRow);
    else if (row.Kind === "file") files.set(String(row.RunId), [...(files.get(String(row.RunId)) ?? []), row as unknown as FileRow]);
  }
  const days = new Map<string, Map<string, Record<string, unknown>>>();
  for await (const entity of summaryTable.listEntities<Record<string, unknown>>()) {
    texts.push(text(entity));
    const day = days.get(entity.partitionKey!) ?? new Map<string, Record<string, unknown>>();
    day.set(`${String(entity.Dimension)}|${String(entity.Value)}`, entity);
    days.set(entity.partitionKey!, day);
  }
  const blobs: Observed["blobs"] = new Map();
  for await (const blob of container.listBlobsFlat({ includeMetadata: true })) {
    const body = await container.getBlobClient(blob.name).downloadToBuffer();
    blobs.set(blob.name, { body, etag: blob.properties.etag ?? "", metadata: blob.metadata ?? {} });
  }
  return { runs: runs.sort((a, b) => a.RunId.localeCompare(b.RunId)), files, blobs, days, tableText: texts.join("\n") };
}

/** An entity as text; Int64 properties come back as bigint. */
function text(entity: object): string {
  return JSON.stringify(entity, (_key, value: unknown) => (typeof value === "bigint" ? String(value) : value));
}

/** What a copy of an export file holds, judged by its bytes against what the source could have served. */
type CopyContent = { readable: true; records: DeviceHealthRecord[]; malformed: number } | { readable: false };

const SERVED_VARIANTS: BlobFaultKind[][] = [[], ["malformed"], ["truncated"], ["truncated", "malformed"]];

function contentOf(file: SimulatedExportFile, body: Buffer): CopyContent | undefined {
  for (const kinds of SERVED_VARIANTS) {
    const served = alter(file, kinds);
    if (!served.body.equals(body)) continue;
    if (kinds.includes("truncated")) return { readable: false };
    return { readable: true, records: file.truth, malformed: served.malformedLines };
  }
  return undefined;
}

export function readable(body: Buffer): boolean {
  try {
    gunzipSync(body);
    return true;
  } catch {
    return false;
  }
}

function md5(body: Buffer): string {
  return createHash("md5").update(body).digest("base64");
}

interface RunErrors {
  file: string;
  error: string;
}

function errorsOf(run: RunRow): RunErrors[] {
  try {
    return JSON.parse(run.Errors) as RunErrors[];
  } catch {
    return [];
  }
}

export interface RunCheck {
  problems: string[];
  /** For a run whose files were read: what its summary must have counted. */
  recount?: { records: number; devices: DeviceHealthRecord[]; duplicates: number; malformed: number };
}

/**
 * Invariants 1 and 2 for one run: every source file is in the container byte-identical (as the
 * source served it) or named in the run's errors, and the state says which; one finished summary
 * per pass, and the counts equal a recount of the files that landed. A run not finished yet must say
 * so (paging, copying or summarising) and must not have been summarised in its current pass.
 */
export function checkRun(run: RunRow, files: readonly FileRow[], observed: Observed, dataset: SimulatedDataset, summaryLogLines: number): RunCheck {
  const problems: string[] = [];
  const say = (text: string) => problems.push(`run ${run.RunId} (${run.State}): ${text}`);
  const final = FINAL_RUN_STATES.includes(run.State);
  const passes = run.Passes ?? 1;
  const errors = errorsOf(run);

  // Invariant 2: exactly one summary per pass that reached the fan-in.
  if (run.Summaries > passes) say(`${run.Summaries} summaries in ${passes} pass(es)`);
  const failedBeforeFanIn = run.State === "failed" && run.Summaries === passes - 1 && errors.some((e) => e.file === "(deviceavinfo)" || e.file === "(export)");
  if (final && run.Summaries !== passes && !failedBeforeFanIn) say(`finished with ${run.Summaries} summaries in ${passes} pass(es)`);
  if (!final && run.Summaries !== passes - 1) say(`not finished, yet ${run.Summaries} summaries in ${passes} pass(es)`);
  // A handler can die between finishing the run and logging it, so a log line may be missing; never one too many.
  if (summaryLogLines > run.Summaries) say(`${summaryLogLines} summaries logged as finished, the run counts ${run.Summaries}`);
  if (!final) {
    if (!["paging", "copying", "summarising"].includes(run.State)) say("unknown state");
    return { problems };
  }

  // Invariant 1: every file copied (byte-identical, verified) or named.
  const named = new Set(errors.map((e) => e.file));
  const records: DeviceHealthRecord[] = [];
  let lines = 0;
  let malformed = 0;
  let copied = 0;
  const expectedFiles = run.Method === "files" ? dataset.files.map((f) => ({ key: fileKeyOf(f.path), file: f as SimulatedExportFile | undefined })) : files.map((f) => ({ key: f.FileKey, file: undefined }));
  for (const { key, file } of expectedFiles) {
    const row = files.find((f) => f.FileKey === key);
    if (row === undefined) {
      say(`file ${key} has no row`);
      continue;
    }
    if (row.State === "pending") say(`file ${key} is still pending in a finished run`);
    if (row.State === "failed" && !(named.has(key) && (row.LastError ?? "") !== "")) say(`file ${key} failed without its reason on the run`);
    if (row.State !== "copied") continue;
    copied++;
    const destination = file ? destinationOf(run.GeneratedTime, file.path) : row.Destination;
    const blob = observed.blobs.get(destination);
    if (blob === undefined) {
      say(`file ${key} is marked copied but ${destination} is not in the container`);
      continue;
    }
    if (row.ContentMD5 && md5(blob.body) !== row.ContentMD5) say(`file ${key}: the copy's MD5 is not the one recorded`);
    if (row.Bytes !== blob.body.length) say(`file ${key}: ${blob.body.length} bytes in the container, ${row.Bytes} recorded`);
    if (file) {
      const content = contentOf(file, blob.body);
      if (content === undefined) say(`file ${key}: the copy is not byte-identical to anything the source served`);
      else if (!content.readable) say(`file ${key}: a copy that cannot be read is marked copied in a finished run`);
      else {
        records.push(...content.records);
        lines += content.records.length + content.malformed;
        malformed += content.malformed;
      }
    } else if (!readable(blob.body)) {
      say(`page ${key} cannot be read`);
    }
  }
  // A JSON run that stopped paging, or an export that listed nothing, failed before any summary: its
  // error says why, and what it wrote stays without a manifest.
  if (failedBeforeFanIn) return { problems };
  const expectedTotal = run.Method === "files" ? dataset.files.length : files.length;
  const missing = expectedTotal - copied;
  const state = copied === 0 ? "failed" : missing > 0 ? "partial" : "succeeded";
  if (run.State !== state) say(`${copied} of ${expectedTotal} files copied and readable, so the state should be ${state}`);
  if (copied > 0 && run.Summaries > 0) {
    const manifest = observed.blobs.get(manifestPath(run.GeneratedTime));
    if (manifest === undefined) say("no manifest");
    else {
      const m = JSON.parse(manifest.body.toString("utf8")) as { runId: string; state: string; files: unknown[] };
      if (m.runId !== run.RunId || m.state !== run.State || m.files.length !== copied) say(`the manifest says ${m.runId} ${m.state} with ${m.files.length} files`);
    }
  }
  if (run.Method !== "files") {
    // The JSON method's pages hold the tenant's devices once each, in pages.
    if (run.State === "succeeded") return { problems, recount: { records: dataset.devices.length, devices: dataset.devices, duplicates: 0, malformed: 0 } };
    return { problems };
  }
  const latest = latestPerDevice(records);
  const recount = { records: lines, devices: latest.devices, duplicates: latest.duplicates, malformed };
  if (run.Summaries > 0 && (run.Records !== recount.records || run.Devices !== recount.devices.length || run.Duplicates !== recount.duplicates || run.MalformedLines !== recount.malformed)) {
    say(`counted ${run.Records} records, ${run.Devices} devices, ${run.Duplicates} duplicates, ${run.MalformedLines} malformed; ` +
      `a recount of the files that landed gives ${recount.records}, ${recount.devices.length}, ${recount.duplicates}, ${recount.malformed}`);
  }
  return { problems, recount };
}

/** Invariant 2's second half: a day's rows are those of its latest summarised snapshot, equal to a recount. */
export function checkDay(day: string, rows: Map<string, Record<string, unknown>>, run: RunRow, recount: RunCheck["recount"]): string[] {
  const problems: string[] = [];
  const runIds = new Set([...rows.values()].map((r) => String(r.RunId)));
  if (runIds.size !== 1 || !runIds.has(run.RunId)) return [`day ${day}: rows of runs ${[...runIds].join(", ")}, expected only ${run.RunId}'s`];
  const partial = [...rows.values()].filter((r) => r.Partial !== (run.State !== "succeeded"));
  if (partial.length > 0) problems.push(`day ${day}: ${partial.length} rows marked Partial=${String(partial[0]!.Partial)} for a ${run.State} run`);
  if (recount === undefined) return problems;
  const actual: ExpectedRows = new Map([...rows].map(([key, entity]) => [key, Object.fromEntries(MEASURES.map((m) => [m, Number(entity[m] ?? 0)]))]));
  problems.push(...compareRows(expectedRows(recount.devices, run.GeneratedTime), actual, MEASURES).slice(0, 10).map((p) => `day ${day}: ${p}`));
  return problems;
}

/** Invariant 4: no token, secret or SAS signature in any text the app produced or stored. */
export function checkSecrets(where: string, text: string, secrets: readonly string[]): string[] {
  const problems: string[] = [];
  const sig = /sig=(?!\[redacted\])[^&\s"]{4}/.exec(text);
  if (sig) problems.push(`${where}: a SAS signature: …${text.slice(Math.max(0, sig.index - 60), sig.index).replace(/\s+/g, " ")}sig=…`);
  for (const secret of secrets) {
    if (secret.length >= 8 && text.includes(secret)) problems.push(`${where}: a secret or token (${secret.slice(0, 3)}…)`);
  }
  return problems;
}
