import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { appServices, pipelineDeps } from "../shared/app.js";
import { getRunView, listRunViews } from "../shared/pipeline/runStatus.js";

/** GET /api/runs and /api/runs/{runId}: state, counts and errors of the runs. */
export async function runStatus(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const deps = pipelineDeps(await appServices(), context);
  const runId = request.params.runId;
  if (!runId) return { status: 200, jsonBody: await listRunViews(deps) };
  const run = await getRunView(deps, runId);
  return run ? { status: 200, jsonBody: run } : { status: 404, jsonBody: { error: `no run "${runId}"` } };
}

app.http("runStatus", { methods: ["GET"], route: "runs/{runId?}", authLevel: "function", handler: runStatus });
