import { randomBytes, randomUUID } from "node:crypto";
// NOTE: a default import: plain Node ESM cannot value-import the package's classes by name.
import functions, { type HttpResponseInit, type InvocationContext as Context } from "@azure/functions";
import { buildSummary } from "../functions/buildSummary.js";
import { buildSummaryPoisoned } from "../functions/buildSummaryPoisoned.js";
import { copyExportFile } from "../functions/copyExportFile.js";
import { copyExportFilePoisoned } from "../functions/copyExportFilePoisoned.js";
import { runStatus } from "../functions/runStatus.js";
import { startRun } from "../functions/startRun.js";
import { createServices, pipelineDeps, useServices, type AppServices, type ServiceOptions } from "../shared/app.js";
import { loadConfig, poisonQueueOf, QUEUES, type Config } from "../shared/config.js";
import type { DefenderCredentialOptions } from "../shared/defender/credential.js";
import { readQueueHostSettings, type QueueHostSettings } from "../shared/hostSettings.js";
import type { Logger } from "../shared/log.js";
import type { PipelineDeps } from "../shared/pipeline/deps.js";
import type { RunView, TriggerView } from "../shared/pipeline/runStatus.js";
import type { StartResult } from "../shared/pipeline/startExport.js";
import type { AzuriteEndpoints } from "./azurite.js";
import { drain, QueuePump, type DeliveryFaults } from "./pump.js";
import { startTenant, type SimulatedTenant, type TenantOptions } from "./simulator/tenant.js";
import { makeCertificate } from "./tls.js";

export interface LocalTenant {
  tenant: SimulatedTenant;
  /** What the Defender credential needs to trust the tenant's self-signed authority. */
  credential: DefenderCredentialOptions;
  close(): Promise<void>;
}

/**
 * Starts the simulated tenant as the app meets it: the API on loopback http, the token endpoint
 * on https (as @azure/identity requires) with a certificate made now, trusted by the credential only.
 */
export async function startLocalTenant(options: Omit<TenantOptions, "tls">): Promise<LocalTenant> {
  const pem = makeCertificate("127.0.0.1", "IP:127.0.0.1,DNS:localhost");
  const tenant = await startTenant({ ...options, tls: { cert: pem.cert, key: pem.key } });
  return {
    tenant,
    credential: { tlsOptions: { ca: pem.cert } },
    async close() {
      await tenant.close();
      pem.remove();
    },
  };
}

/** The settings that point the app at in-process Azurite and the simulated tenant. */
export function simulatorSettings(azurite: AzuriteEndpoints, tenant: SimulatedTenant): Record<string, string> {
  return {
    DATA_STORAGE: azurite.customer.connectionString,
    AzureWebJobsStorage: azurite.customer.connectionString,
    DEFENDER_ALLOW_LOOPBACK: "true",
    DEFENDER_API_BASE_URL: tenant.url,
    DEFENDER_AUTHORITY_HOST: tenant.authorityHost,
    DEFENDER_AUTH: "secret",
    DEFENDER_TENANT_ID: tenant.tenantId,
    DEFENDER_CLIENT_ID: tenant.clientId,
    DEFENDER_CLIENT_SECRET: tenant.clientSecret,
  };
}

export interface LocalPipelineOptions {
  env: Record<string, string | undefined>;
  logger: Logger;
  /**
   * Separate queue names (tests share one Azurite): `true` for a random suffix, or the suffix to use
   * (a host started again on the same queues). Default: the bindings' names.
   */
  isolate?: boolean | string;
  /** host.json's queue settings, with overrides (tests retry at once instead of after 30 s). */
  queueSettings?: Partial<QueueHostSettings>;
  checkpoint?: PipelineDeps["checkpoint"];
  now?: PipelineDeps["now"];
  /** Queue-name isolation aside, what createServices takes (a recording sleep, the simulator's CA). */
  services?: Omit<ServiceOptions, "queueNames">;
  /** How long a received message stays hidden while its handler runs (default 10 minutes, as the runtime). */
  leaseMs?: number;
  /** The chaos run's queue faults: late, repeated and doubled deliveries. */
  deliveryFaults?: DeliveryFaults;
  /** Runs every function invocation (the chaos run scopes its crashes to one invocation this way). */
  invoke?: <T>(functionName: string, call: () => Promise<T>) => Promise<T>;
}

type QueueHandler = (message: unknown, context: Context) => Promise<void>;

/**
 * The Functions runtime's part, played locally: the function handlers of functions/, called with an
 * InvocationContext by queue pumps that apply host.json's semantics, and by HTTP calls made here.
 * Used by `npm start`, the tests, the benchmark and the chaos run.
 */
export class LocalPipeline {
  readonly deps: PipelineDeps;
  readonly files: QueuePump;
  readonly summaries: QueuePump;
  /** The poison queues' own functions: they account for messages that failed on every delivery. */
  readonly filesPoisoned: QueuePump;
  readonly summariesPoisoned: QueuePump;
  readonly queueSettings: QueueHostSettings;
  private readonly invoke: NonNullable<LocalPipelineOptions["invoke"]>;

  private constructor(readonly services: AppServices, private readonly logger: Logger, options: Pick<LocalPipelineOptions, "queueSettings" | "leaseMs" | "deliveryFaults" | "invoke">) {
    this.queueSettings = { ...readQueueHostSettings(), ...options.queueSettings };
    this.deps = pipelineDeps(services, logger);
    this.invoke = options.invoke ?? ((_name, call) => call());
    const pump = (queueName: string, name: string, handler: QueueHandler) =>
      new QueuePump({
        service: services.storage.queueService,
        queueName,
        settings: this.queueSettings,
        logger,
        leaseMs: options.leaseMs,
        deliveryFaults: options.deliveryFaults,
        handler: (message, delivery) => this.invoke(name, () => handler(message, this.context(name, { dequeueCount: delivery.dequeueCount, id: delivery.id }))),
      });
    const { filesQueue, summariesQueue } = services.storage;
    this.files = pump(filesQueue.name, "copyExportFile", copyExportFile);
    this.summaries = pump(summariesQueue.name, "buildSummary", buildSummary);
    this.filesPoisoned = pump(poisonQueueOf(filesQueue.name), "copyExportFilePoisoned", copyExportFilePoisoned);
    this.summariesPoisoned = pump(poisonQueueOf(summariesQueue.name), "buildSummaryPoisoned", buildSummaryPoisoned);
  }

  /** Every queue this host pumps. */
  get pumps(): QueuePump[] {
    return [this.files, this.summaries, this.filesPoisoned, this.summariesPoisoned];
  }

  static async create(options: LocalPipelineOptions): Promise<LocalPipeline> {
    const suffix = typeof options.isolate === "string" ? options.isolate : randomBytes(4).toString("hex");
    const queueNames = options.isolate ? { files: `${QUEUES.files}-${suffix}`, summaries: `${QUEUES.summaries}-${suffix}` } : QUEUES;
    const services = await createServices(loadConfig(options.env), { ...options.services, queueNames });
    services.checkpoint = options.checkpoint;
    services.now = options.now;
    // The function handlers take their services from the process, as in Azure: this host installs them.
    useServices(services);
    return new LocalPipeline(services, options.logger, options);
  }

  get config(): Config {
    return this.services.config;
  }

  private context(functionName: string, triggerMetadata: Record<string, unknown> = {}): Context {
    const { logger } = this;
    return new functions.InvocationContext({
      invocationId: randomUUID(),
      functionName,
      triggerMetadata,
      logHandler: (level, ...args) => {
        const text = args.map(String).join(" ");
        if (level === "error" || level === "critical") logger.error(text);
        else if (level === "warning") logger.warn(text);
        else if (level !== "trace" && level !== "debug") logger.info(text);
      },
    });
  }

  private async http(handler: (request: InstanceType<typeof functions.HttpRequest>, context: Context) => Promise<HttpResponseInit>, name: string, init: { method: string; url: string; params?: Record<string, string> }): Promise<HttpResponseInit> {
    return this.invoke(name, () => handler(new functions.HttpRequest(init), this.context(name)));
  }

  /** What POST /api/runs does (the timer calls the same code): starts or resumes a run. */
  async start(): Promise<StartResult> {
    const response = await this.http(startRun, "startRun", { method: "POST", url: "http://localhost/api/runs" });
    return response.jsonBody as StartResult;
  }

  /** What GET /api/runs answers: the latest runs and the latest trigger. */
  async list(): Promise<{ runs: RunView[]; lastTrigger: TriggerView | null }> {
    const response = await this.http(runStatus, "runStatus", { method: "GET", url: "http://localhost/api/runs" });
    return response.jsonBody as { runs: RunView[]; lastTrigger: TriggerView | null };
  }

  /** What GET /api/runs/{runId} answers. */
  async status(runId: string): Promise<RunView | undefined> {
    const response = await this.http(runStatus, "runStatus", { method: "GET", url: `http://localhost/api/runs/${runId}`, params: { runId } });
    return response.status === 200 ? (response.jsonBody as RunView) : undefined;
  }

  /** Pumps every queue until they are all empty and nothing is in flight. */
  async drain(deadlineMs = 120_000): Promise<void> {
    await drain(this.pumps, { deadlineMs });
  }

  /** One whole pass: start, then pump until the queues are empty. */
  async runOnce(): Promise<{ start: StartResult; run: RunView | undefined }> {
    const start = await this.start();
    await this.drain();
    return { start, run: await this.status(start.runId) };
  }
}
