import { app, type InvocationContext } from "@azure/functions";
import { appServices, pipelineDeps } from "../shared/app.js";
import { QUEUE_CONNECTION, QUEUES } from "../shared/config.js";
import { buildSummary as build } from "../shared/pipeline/buildSummary.js";
import { summariseRun } from "../shared/pipeline/summariseRun.js";

/** The fan-in's one step per run: daily health rows, the manifest, and the run's final state. */
export async function buildSummary(message: unknown, context: InvocationContext): Promise<void> {
  await build(pipelineDeps(await appServices(), context), message, summariseRun);
}

app.storageQueue("buildSummary", { queueName: QUEUES.summaries, connection: QUEUE_CONNECTION, handler: buildSummary });
