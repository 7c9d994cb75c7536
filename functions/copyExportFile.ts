import { app, type InvocationContext } from "@azure/functions";
import { appServices, pipelineDeps } from "../shared/app.js";
import { QUEUE_CONNECTION, QUEUES } from "../shared/config.js";
import { maxDequeueCount } from "../shared/hostSettings.js";
import { copyFile } from "../shared/pipeline/copyFile.js";

/** The activity: one queue message per export file, copied server-side into the customer's container. */
export async function copyExportFile(message: unknown, context: InvocationContext): Promise<void> {
  const dequeueCount = Number(context.triggerMetadata?.dequeueCount ?? 1);
  await copyFile(pipelineDeps(await appServices(), context), message, { dequeueCount, maxDequeueCount });
}

app.storageQueue("copyExportFile", { queueName: QUEUES.files, connection: QUEUE_CONNECTION, handler: copyExportFile });
