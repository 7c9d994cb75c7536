import { AsyncLocalStorage } from "node:async_hooks";
import { BlobServiceClient } from "@azure/storage-blob";
import { TableClient } from "@azure/data-tables";
import { ensureError } from "../../shared/errors.js";
import { MemoryLogger } from "../../shared/log.js";
import { runIdOf } from "../../shared/runs/layout.js";
import { FINAL_RUN_STATES, type RunRow } from "../../shared/runs/runStore.js";
import type { AzuriteEndpoints } from "../azurite.js";
import { LocalPipeline, simulatorSettings, startLocalTenant, type LocalTenant } from "../localPipeline.js";
import { drain, queuesIdle, type DeliveryFaults } from "../pump.js";
import { defaultFaults } from "../simulator/faults.js";
import { generateDataset, toJsonRecord } from "../simulator/generator.js";
import { Prng } from "../simulator/prng.js";
import type { SimulatedDataset } from "../simulator/dataset.js";
import { checkDay, checkRun, checkSecrets, observe, readable, type Observed, type RunCheck } from "./invariants.js";
import { FAULT_KINDS, planFaults, type FaultKind, type FaultPlan } from "./plan.js";
import { StorageProxy } from "./storageProxy.js";

/** What one seeded run did and found. */
export interface ChaosResult {
  seed: number;
  plan: FaultPlan;
  injected: Record<FaultKind, number>;
  violations: string[];
  /** The runs' states after the hostile phase and after the rerun, e.g. `partial → succeeded`. */
  outcome: string;
  elapsedMs: number;
}

export interface ChaosOptions {
  /** Devices of the simulated tenant at most (the plan draws between 60 and this). */
  maxDevices?: number;
  /** How long a phase may take to settle before that counts as a violation. */
  settleMs?: number;
  /** Every log line of the run, as it happens. */
  log?: (line: string) => void;
}

/** A handler's process "dies": this invocation's storage calls fail from here on. */
class HandlerCrash extends Error {
  override name = "HandlerCrash";
}

interface Invocation {
  name: string;
  /** Crash after this many storage writes (0: at the first one, before it is sent); -1: never. */
  crashAfter: number;
  writes: number;
  dead: boolean;
}

const CLOCK_START = Date.parse("2026-12-01T03:00:00Z");
const HOUR = 3_600_000;
const SUMMARY_LINE = /^(?:info|warn|error) buildSummary (?:succeeded|partial|failed) "(\d{8}T\d{4}Z)"/;

/**
 * One seeded run of the chaos test: the pipeline on a simulated tenant through a day of the plan's
 * faults (phase 1), then again once the faults stop (phase 2), with the invariants checked after each
 * phase. The Azurite it is given is shared; everything this run creates is its own and removed after.
 */
export async function chaosRun(azurite: AzuriteEndpoints, seed: number, options: ChaosOptions = {}): Promise<ChaosResult> {
  const started = Date.now();
  const plan = planFaults(seed, { maxDevices: options.maxDevices });
  const injected = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  const violations: string[] = [];
  const dataset = generateDataset({ seed, devices: plan.devices, recordsPerFile: plan.recordsPerFile });
  const runtime = new Prng(seed ^ 0x5eed);
  const logger = new MemoryLogger();
  if (options.log) {
    const log = options.log;
    for (const level of ["info", "warn", "error"] as const) {
      const keep = logger[level].bind(logger);
      logger[level] = (message: string) => {
        keep(message);
        log(`${level} ${message}`);
      };
    }
  }

  const host = azurite.host;
  const proxies = { blob: new StorageProxy(host, azurite.blobPort), queue: new StorageProxy(host, azurite.queuePort), table: new StorageProxy(host, azurite.tablePort) };
  await Promise.all(Object.values(proxies).map((p) => p.open()));
  const customer = azurite.customer;
  const through =
    `DefaultEndpointsProtocol=http;AccountName=${customer.name};AccountKey=${customer.key};` +
    `BlobEndpoint=http://${proxies.blob.address}/${customer.name};QueueEndpoint=http://${proxies.queue.address}/${customer.name};` +
    `TableEndpoint=http://${proxies.table.address}/${customer.name};`;

  let local: LocalTenant | undefined;
  let pipeline: LocalPipeline | undefined;
  let hostile = true;
  let clockOffset = CLOCK_START - Date.now();
  let apiOffset = 0;
  const contexts = new AsyncLocalStorage<Invocation>();
  const names = { container: `chaos-${seed}`, runs: `ChaosRuns${seed}`, days: `ChaosDaily${seed}` };

  const die = (invocation: Invocation): never => {
    invocation.dead = true;
    injected.handlerCrash++;
    throw new HandlerCrash(`${invocation.name} crashed after ${invocation.writes} storage writes (chaos)`);
  };
  const intercept = async <T>(method: string, send: () => Promise<T>): Promise<T> => {
    const invocation = contexts.getStore();
    if (invocation === undefined) return send();
    if (invocation.dead) throw new HandlerCrash(`${invocation.name} is no longer running (chaos)`);
    const write = method !== "GET" && method !== "HEAD";
    if (write && invocation.crashAfter === 0) die(invocation);
    const result = await send();
    if (write && ++invocation.writes === invocation.crashAfter) die(invocation);
    return result;
  };
  const invoke = <T>(name: string, call: () => Promise<T>): Promise<T> => {
    const crash = hostile && runtime.chance(plan.crash.probability);
    return contexts.run({ name, crashAfter: crash ? runtime.int(plan.crash.maxWrites + 1) : -1, writes: 0, dead: false }, call);
  };
  const deliveryFaults: DeliveryFaults = {
    delaySeconds: () => (hostile && runtime.chance(plan.delivery.delay) ? runtime.between(1, 2) : 0),
    redeliver: () => hostile && runtime.chance(plan.delivery.redeliver),
    duplicate: () => hostile && runtime.chance(plan.delivery.duplicate),
  };

  const phaseStates: string[] = [];
  options.log?.(`chaos plan ${JSON.stringify(plan)}`);
  try {
    local = await startLocalTenant({
      exporter: azurite.exporter,
      dataset,
      toJsonRecord,
      rateLimit: { perMinute: 100_000, perHour: 100_000 },
      deviceAvInfoRateLimit: { perMinute: 100_000, perHour: 100_000 },
      exportUrlBase: `http://${proxies.blob.address}/${azurite.exporter.name}`,
    });
    const tenant = local.tenant;
    const env = {
      ...simulatorSettings(azurite, tenant),
      DATA_STORAGE: through,
      AzureWebJobsStorage: through,
      DATA_CONTAINER: names.container,
      RUNS_TABLE: names.runs,
      SUMMARY_TABLE: names.days,
      EXPORT_METHOD: plan.method,
      EXPORT_JSON_PAGE_SIZE: String(Math.max(10, Math.ceil(plan.devices / 4))),
      SUMMARY_PARALLELISM: String(plan.summaryParallelism),
      DEFENDER_RETRY_BUDGET_SECONDS: "60",
    };
    const credential = local.credential;
    const queues = `chaos${seed}`;
    const startHost = () =>
      LocalPipeline.create({
        env,
        logger,
        isolate: queues,
        queueSettings: { visibilityTimeoutMs: plan.retryDelayMs },
        leaseMs: 5_000,
        deliveryFaults,
        invoke,
        now: () => new Date(Date.now() + clockOffset),
        services: {
          credential,
          // Retry-After and backoff waits pass on a clock of their own, at once: the budget still holds.
          defender: { sleep: async (ms: number) => void (apiOffset += ms), now: () => Date.now() + apiOffset, attemptTimeoutMs: 1_000 },
          storage: { intercept, retry: { attempts: 3, delayMs: 20, maxDelayMs: 200 } },
        },
      });
    pipeline = await startHost();
    let p = pipeline;
    const settleMs = options.settleMs ?? 120_000;
    const errors: string[] = [];

    // Phase 1: the hostile day.
    const files = dataset.files.length;
    const pick = (indexes: number[]) => (indexes.length === 0 ? null : [...new Set(indexes.map((i) => i % files))]);
    Object.assign(tenant.faults, {
      ...plan.api,
      emptyBlob: pick(plan.blobs.empty),
      missingBlob: pick(plan.blobs.missing),
      truncatedGzip: pick(plan.blobs.truncated),
      malformedLines: pick(plan.blobs.malformed),
    });
    if (plan.withholdFilesPermission) tenant.roles = tenant.roles.filter((role) => role !== "Vulnerability.Read.All");
    const phase1Started = Date.now();
    const outages = plan.outages.map(async ({ atMs, forMs }) => {
      await sleep(atMs);
      injected.storageOutage++;
      await Promise.all(Object.values(proxies).map((proxy) => proxy.close()));
      await sleep(forMs);
      await Promise.all(Object.values(proxies).map((proxy) => proxy.open()));
    });
    const triggers = plan.triggers.map(async ({ atMs, count }) => {
      await sleep(atMs);
      if (count > 1) injected.concurrentTriggers++;
      const results = await Promise.allSettled(Array.from({ length: count }, () => p.start()));
      for (const r of results) {
        if (r.status === "fulfilled") continue;
        errors.push(ensureError(r.reason).message);
        logger.warn(`chaos trigger-failed after ${Date.now() - phase1Started} ms: ${ensureError(r.reason).message}`);
      }
    });
    const settled = Promise.all([...outages, ...triggers]);
    let done = false;
    void settled.then(() => (done = true));
    try {
      await drain(p.pumps, { deadlineMs: settleMs, until: async () => done && (await queuesIdle(p.pumps)) });
    } catch {
      violations.push(`phase 1: the pipeline did not settle within ${settleMs / 1000} s`);
    }
    await settled;
    countInjected(injected, tenant.counters, tenant.servedFiles().map((f) => f.faults), p, plan);
    hostile = false;
    const afterPhase1 = await check("phase 1", p, dataset, tenant.secrets(), azurite, logger, errors, violations);
    phaseStates.push(`${stateOf(afterPhase1.runs)} (${((Date.now() - phase1Started) / 1000).toFixed(1)} s)`);
    const phase2Started = Date.now();

    // Phase 2: the faults stop; the next triggers, an hour on, on a host started afresh (nothing cached
    // from the hostile day, such as a token endpoint's throttling), must finish the snapshot, copying
    // and counting nothing twice.
    Object.assign(tenant.faults, defaultFaults(plan.api.seed));
    await Promise.all(Object.values(proxies).map((proxy) => proxy.open()));
    clockOffset += HOUR;
    pipeline = p = await startHost();
    const untouched = copiedInPhase1(afterPhase1);
    let finished: RunRow | undefined;
    for (let attempt = 0; attempt < 3 && finished?.State !== "succeeded"; attempt++) {
      clockOffset += 60_000;
      try {
        await p.start();
      } catch (error) {
        violations.push(`phase 2: a trigger failed with the faults off: ${ensureError(error).message}`);
      }
      try {
        await drain(p.pumps, { deadlineMs: settleMs });
      } catch {
        violations.push(`phase 2: the pipeline did not settle within ${settleMs / 1000} s`);
      }
      const runs = await p.deps.runs.listRuns();
      finished = plan.method === "files" || (plan.method === "auto" && !plan.withholdFilesPermission) ? runs.find((r) => r.RunId === runIdOf(dataset.generatedTime)) : runs[0];
    }
    const afterPhase2 = await check("phase 2", p, dataset, tenant.secrets(), azurite, logger, errors, violations);
    phaseStates.push(`${stateOf(afterPhase2.runs)} (${((Date.now() - phase2Started) / 1000).toFixed(1)} s)`);
    if (finished?.State !== "succeeded") violations.push(`phase 2: the snapshot's run is ${finished?.State ?? "missing"} after three triggers with the faults off`);
    // Invariant 3: what phase 1 copied stays as it was.
    for (const [name, etag] of untouched) {
      const now = afterPhase2.blobs.get(name);
      if (now?.etag !== etag) violations.push(`phase 2: ${name}, copied in phase 1, was ${now ? "copied again" : "removed"}`);
    }
    const idle = await Promise.all([p.files.queue, p.summaries.queue].map((q) => q.getProperties()));
    if (idle.some((props) => (props.approximateMessagesCount ?? 0) > 0)) violations.push("phase 2: messages left in the queues");
  } catch (error) {
    violations.push(`the chaos run itself failed: ${ensureError(error).stack ?? String(error)}`);
  } finally {
    hostile = false;
    await Promise.all(Object.values(proxies).map((proxy) => proxy.open().catch(() => undefined)));
    if (pipeline) await removeStorage(pipeline).catch(() => undefined);
    await Promise.all(Object.values(proxies).map((proxy) => proxy.close()));
    await local?.close();
  }
  return { seed, plan, injected, violations, outcome: phaseStates.join(" → "), elapsedMs: Date.now() - started };

  async function removeStorage(p: LocalPipeline): Promise<void> {
    const direct = BlobServiceClient.fromConnectionString(customer.connectionString);
    await direct.getContainerClient(names.container).deleteIfExists();
    for (const table of [names.runs, names.days]) await TableClient.fromConnectionString(customer.connectionString, table, { allowInsecureConnection: true }).deleteTable().catch(() => undefined);
    for (const pump of p.pumps) {
      await pump.queue.deleteIfExists();
      await pump.poison.deleteIfExists();
    }
  }
}

/** The chaos run's checks after a phase: invariants 1, 2 and 4 over everything in storage and the logs. */
async function check(
  phase: string,
  pipeline: LocalPipeline,
  dataset: SimulatedDataset,
  secrets: string[],
  azurite: AzuriteEndpoints,
  logger: MemoryLogger,
  errors: string[],
  violations: string[],
): Promise<Observed> {
  const direct = BlobServiceClient.fromConnectionString(azurite.customer.connectionString);
  const { config } = pipeline;
  const table = (name: string) => TableClient.fromConnectionString(azurite.customer.connectionString, name, { allowInsecureConnection: true });
  const observed = await observe(direct.getContainerClient(config.storage.container), table(config.storage.runsTable), table(config.storage.summaryTable));
  const summaryLines = new Map<string, number>();
  for (const l of logger.lines) {
    const match = SUMMARY_LINE.exec(l);
    if (match) summaryLines.set(match[1]!, (summaryLines.get(match[1]!) ?? 0) + 1);
  }
  const checks = new Map<string, RunCheck>();
  for (const run of observed.runs) {
    const result = checkRun(run, observed.files.get(run.RunId) ?? [], observed, dataset, summaryLines.get(run.RunId) ?? 0);
    checks.set(run.RunId, result);
    violations.push(...result.problems.map((p) => `${phase}: ${p}`));
  }
  for (const [day, rows] of observed.days) {
    // The day belongs to its latest summarised snapshot.
    const owner = observed.runs.filter((r) => r.SnapshotDate === day && r.Summaries > 0 && FINAL_RUN_STATES.includes(r.State)).pop();
    if (owner === undefined) continue;
    violations.push(...checkDay(day, rows, owner, checks.get(owner.RunId)?.recount).map((p) => `${phase}: ${p}`));
  }
  const views = await Promise.all(observed.runs.map((r) => pipeline.status(r.RunId)));
  const texts: [string, string][] = [
    ["a log line", logger.lines.join("\n")],
    ["a stored row", observed.tableText],
    ["blob metadata", [...observed.blobs.values()].map((b) => JSON.stringify(b.metadata)).join("\n")],
    ["a manifest or quarantine sample", [...observed.blobs].filter(([name]) => name.endsWith(".json")).map(([, b]) => b.body.toString("utf8")).join("\n")],
    ["the run status", JSON.stringify(views)],
    ["an error", errors.join("\n")],
  ];
  const keys = [azurite.customer.key, azurite.exporter.key];
  for (const [where, text] of texts) violations.push(...checkSecrets(where, text, [...secrets, ...keys]).map((p) => `${phase}: ${p}`));
  return observed;
}

/** Copies that landed whole and readable in phase 1 (their file row copied): phase 2 must leave them as they are. */
function copiedInPhase1(observed: Observed): Map<string, string> {
  const kept = new Map<string, string>();
  for (const files of observed.files.values()) {
    for (const file of files) {
      const blob = observed.blobs.get(file.Destination);
      if (file.State === "copied" && blob && readable(blob.body)) kept.set(file.Destination, blob.etag);
    }
  }
  return kept;
}

function stateOf(runs: RunRow[]): string {
  return runs.length === 0 ? "no run" : runs.map((r) => r.State).join("+");
}

function countInjected(
  injected: Record<FaultKind, number>,
  counters: { throttled: number; serverErrors: number; resets: number; slowed: number; exportServed: number },
  served: string[][],
  pipeline: LocalPipeline,
  plan: FaultPlan,
): void {
  injected.api429 = counters.throttled;
  injected.api5xx = counters.serverErrors;
  injected.apiReset = counters.resets;
  injected.apiSlow = counters.slowed;
  injected.sasExpired = plan.api.sasExpiresEarly === false ? 0 : counters.exportServed;
  // Blob faults are made real when the export is called: the files as last served carry them.
  const kinds = served.flat();
  const count = (kind: string) => kinds.filter((k) => k === kind).length;
  injected.emptyBlob = count("empty");
  injected.missingBlob = count("missing");
  injected.truncatedGzip = count("truncated");
  injected.malformedLines = count("malformed");
  for (const pump of pipeline.pumps) {
    injected.duplicateDelivery += pump.stats.duplicated;
    injected.redelivery += pump.stats.redelivered;
    injected.delayedDelivery += pump.stats.delayed;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
