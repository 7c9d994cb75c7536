import { app, type InvocationContext } from "@azure/functions";
import { appServices, pipelineDeps } from "../shared/app.js";
import { poisonQueueOf, QUEUE_CONNECTION, QUEUES } from "../shared/config.js";
import { maxDequeueCount } from "../shared/hostSettings.js";
import { fileMessagePoisoned } from "../shared/pipeline/poisoned.js";

/** A copy message that failed on every delivery: its file is failed with the reason, so its run can finish. */
export async function copyExportFilePoisoned(message: unknown, context: InvocationContext): Promise<void> {
  await fileMessagePoisoned(pipelineDeps(await appServices(), context), message, maxDequeueCount);
}

app.storageQueue("copyExportFilePoisoned", { queueName: poisonQueueOf(QUEUES.files), connection: QUEUE_CONNECTION, handler: copyExportFilePoisoned });
