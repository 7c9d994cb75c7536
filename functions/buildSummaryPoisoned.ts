import { app, type InvocationContext } from "@azure/functions";
import { appServices, pipelineDeps } from "../shared/app.js";
import { poisonQueueOf, QUEUE_CONNECTION, QUEUES } from "../shared/config.js";
import { maxDequeueCount } from "../shared/hostSettings.js";
import { summaryMessagePoisoned } from "../shared/pipeline/poisoned.js";

/** A summary message that failed on every delivery: the run says so, and is summarised again on the next look. */
export async function buildSummaryPoisoned(message: unknown, context: InvocationContext): Promise<void> {
  await summaryMessagePoisoned(pipelineDeps(await appServices(), context), message, maxDequeueCount);
}

app.storageQueue("buildSummaryPoisoned", { queueName: poisonQueueOf(QUEUES.summaries), connection: QUEUE_CONNECTION, handler: buildSummaryPoisoned });
