import "../../../local/quietFunctions.js";
import { randomBytes } from "node:crypto";
import type { TableEntityResult } from "@azure/data-tables";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { inject } from "vitest";
import { LocalPipeline, simulatorSettings, startLocalTenant, type LocalPipelineOptions } from "../../../local/localPipeline.js";
import { generateDataset, toJsonRecord } from "../../../local/simulator/generator.js";
import type { SimulatedTenant, TenantFaults } from "../../../local/simulator/tenant.js";
import type { SimulatedDataset } from "../../../local/simulator/dataset.js";
import { MemoryLogger } from "../../../shared/log.js";

export interface Harness {
  dataset: SimulatedDataset;
  tenant: SimulatedTenant;
  pipeline: LocalPipeline;
  logger: MemoryLogger;
  /** The customer's container of this test. */
  container: ContainerClient;
  env: Record<string, string>;
  /** Every Retry-After / backoff wait the Defender client asked for (nothing is really slept). */
  sleeps: number[];
  close(): Promise<void>;
}

export interface HarnessOptions {
  devices?: number;
  recordsPerFile?: number;
  seed?: number;
  /** Other generator options (e.g. the snapshot's generatedTime). */
  dataset?: { generatedTime?: string };
  faults?: Partial<TenantFaults>;
  env?: Record<string, string>;
  checkpoint?: LocalPipelineOptions["checkpoint"];
  queueSettings?: LocalPipelineOptions["queueSettings"];
  now?: LocalPipelineOptions["now"];
}

/**
 * One isolated pipeline on the suite's Azurite: its own simulated tenant, container, tables and
 * queues, the real handlers driven by the local pump (retries at once instead of after 30 s).
 */
export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const azurite = inject("azurite");
  const dataset = generateDataset({ seed: options.seed ?? 7, devices: options.devices ?? 600, recordsPerFile: options.recordsPerFile ?? 100, ...options.dataset });
  const local = await startLocalTenant({ exporter: azurite.exporter, dataset, toJsonRecord, rateLimit: { perMinute: 1000, perHour: 1000 } });
  const { tenant } = local;
  Object.assign(tenant.faults, options.faults);
  const id = randomBytes(4).toString("hex");
  const env = {
    ...simulatorSettings(azurite, tenant),
    DATA_CONTAINER: `t-${id}`,
    RUNS_TABLE: `Runs${id}`,
    SUMMARY_TABLE: `Daily${id}`,
    ...options.env,
  };
  const logger = new MemoryLogger();
  const sleeps: number[] = [];
  const pipeline = await LocalPipeline.create({
    env,
    logger,
    isolate: true,
    queueSettings: { visibilityTimeoutMs: 0, ...options.queueSettings },
    checkpoint: options.checkpoint,
    now: options.now,
    services: { defender: { sleep: async (ms: number) => void sleeps.push(ms) }, credential: local.credential },
  });
  const container = BlobServiceClient.fromConnectionString(azurite.customer.connectionString).getContainerClient(env.DATA_CONTAINER);
  return { dataset, tenant, pipeline, logger, container, env, sleeps, close: () => local.close() };
}

/** Every line the run logged, for checks that no secret leaked. */
export function allText(h: Harness): string {
  return h.logger.lines.join("\n");
}

/** The day's summary rows (every day's when no day is given), without the columns that differ by nature (etag, write time). */
export async function dayRows(h: Harness, day?: string): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  const queryOptions = day === undefined ? {} : { filter: `PartitionKey eq '${day}'` };
  for await (const entity of h.pipeline.deps.storage.summary.listEntities<TableEntityResult<Record<string, unknown>>>({ queryOptions })) {
    const { etag: _etag, timestamp: _timestamp, ...rest } = entity as Record<string, unknown>;
    rows.push(rest);
  }
  return rows.sort((a, b) => `${String(a.partitionKey)}|${String(a.rowKey)}`.localeCompare(`${String(b.partitionKey)}|${String(b.rowKey)}`));
}
