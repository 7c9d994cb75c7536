import { app, type InvocationContext, type Timer } from "@azure/functions";
import { appServices, pipelineDeps } from "../shared/app.js";
import { SETTINGS } from "../shared/config.js";
import { startExport as start } from "../shared/pipeline/startExport.js";

/** Daily: asks Defender for the current snapshot's files and queues one copy per file. */
export async function startExport(_timer: Timer, context: InvocationContext): Promise<void> {
  await start(pipelineDeps(await appServices(), context), "timer");
}

app.timer("startExport", { schedule: `%${SETTINGS.exportSchedule}%`, handler: startExport });
