import { loadConfig, QUEUES, type Config } from "./config.js";
import { createDefenderCredential, type DefenderCredentialOptions } from "./defender/credential.js";
import { DefenderClient, type DefenderClientOptions } from "./defender/client.js";
import type { Logger } from "./log.js";
import type { PipelineDeps } from "./pipeline/deps.js";
import { RunStore } from "./runs/runStore.js";
import { createStorageClients, ensureStorage, type StorageClientOptions, type StorageClients } from "./storage.js";

/** The long-lived part of the pipeline's dependencies: built once per process from the settings. */
export interface AppServices {
  config: Config;
  storage: StorageClients;
  runs: RunStore;
  defender: DefenderClient;
  /** Crash injection between storage writes, for tests and the chaos run; absent in production. */
  checkpoint?: PipelineDeps["checkpoint"];
  /** The clock, for tests; the wall clock in production. */
  now?: PipelineDeps["now"];
}

export interface ServiceOptions {
  /** Queue names: the bindings' own by default; the local host's tests pass others to keep apart. */
  queueNames?: { files: string; summaries: string };
  /** E.g. a recording `sleep` in tests. */
  defender?: Partial<DefenderClientOptions>;
  /** E.g. `{ tlsOptions: { ca } }` for the simulator's self-signed authority. */
  credential?: DefenderCredentialOptions;
  /** The chaos run's crash injection and quicker storage retries. */
  storage?: StorageClientOptions;
}

/** Builds the services from a configuration and creates the containers, tables and queues if missing. */
export async function createServices(config: Config, options: ServiceOptions = {}): Promise<AppServices> {
  const storage = createStorageClients(config, options.queueNames ?? QUEUES, options.storage);
  await ensureStorage(storage);
  const defender = new DefenderClient({
    apiBaseUrl: config.defender.apiBaseUrl,
    credential: createDefenderCredential(config.defender.credential, options.credential),
    scope: config.defender.credential.scope,
    allowLoopback: config.defender.allowLoopback,
    retryBudgetMs: config.defender.retryBudgetMs,
    ...options.defender,
  });
  return { config, storage, runs: new RunStore(storage.runs), defender };
}

let services: Promise<AppServices> | undefined;

/** The process's services, from process.env, built on first use (a bad setting fails the first invocation loudly). */
export function appServices(): Promise<AppServices> {
  services ??= createServices(loadConfig()).catch((error: unknown) => {
    services = undefined;
    throw error;
  });
  return services;
}

/** For a host that builds the services itself (the local host plays the Functions runtime). */
export function useServices(app: AppServices): void {
  services = Promise.resolve(app);
}

/** One invocation's dependencies: the process's services with the invocation's logger. */
export function pipelineDeps(app: AppServices, logger: Logger): PipelineDeps {
  return { ...app, logger, now: app.now ?? (() => new Date()), checkpoint: app.checkpoint ?? (() => {}) };
}
