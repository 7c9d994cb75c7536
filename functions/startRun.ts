import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { appServices, pipelineDeps } from "../shared/app.js";
import { startExport } from "../shared/pipeline/startExport.js";

/** POST /api/runs: starts (or resumes) a run now, as the timer would. */
export async function startRun(_request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const result = await startExport(pipelineDeps(await appServices(), context), "http");
  return { status: result.action === "started" || result.action === "resumed" ? 202 : 200, jsonBody: result };
}

app.http("startRun", { methods: ["POST"], route: "runs", authLevel: "function", handler: startRun });
