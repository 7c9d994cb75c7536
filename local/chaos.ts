/**
 * `npm run chaos`: the pipeline on the simulated tenant, run after run, each with a seeded random mix
 * of faults, with the invariants checked after the faults and again after a rerun without them.
 *
 *   npm run chaos                                   200 runs, seeds 1..200, one process per core
 *   npm run chaos -- --runs 500 --seed 1000 --jobs 1
 *   npm run chaos -- --seed 37 --runs 1 --verbose   replay one run, printing every log line
 *
 * Exits 1 on any violation, naming the seed that replays it. Each job is a process of its own (the
 * function handlers take their services from the process, as in Azure), with its own Azurite.
 */
import "./quietFunctions.js";
import { spawn } from "node:child_process";
import { availableParallelism } from "node:os";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ensureError } from "../shared/errors.js";
import { startAzurite } from "./azurite.js";
import { chaosRun, type ChaosResult } from "./chaos/chaosRun.js";
import { FAULT_KINDS, FAULT_LABELS } from "./chaos/plan.js";

const { values: args } = parseArgs({
  options: {
    runs: { type: "string", default: "200" },
    seed: { type: "string", default: "1" },
    jobs: { type: "string", default: String(availableParallelism()) },
    "max-devices": { type: "string", default: "500" },
    verbose: { type: "boolean", default: false },
    /** Internal: run these seeds in this process and print one JSON result a line. */
    worker: { type: "string" },
  },
});

function whole(name: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`--${name} must be a whole number of at least ${min}, got "${value}"`);
  return n;
}

/** Runs seeds in this process, one after the other, on an Azurite of its own. */
async function runSeeds(seeds: number[], onResult: (result: ChaosResult) => void): Promise<void> {
  const maxDevices = whole("max-devices", args["max-devices"], 60);
  const azurite = await startAzurite();
  try {
    for (const seed of seeds) {
      onResult(await chaosRun(azurite, seed, { maxDevices, log: args.verbose ? (l) => console.log(`  ${l}`) : undefined }));
    }
  } finally {
    await azurite.close();
  }
}

/** Runs seeds in a child process of this script; resolves when it ends. */
function runJob(seeds: number[], onResult: (result: ChaosResult) => void): Promise<void> {
  const script = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, ["--import", "tsx", script, "--worker", seeds.join(","), "--max-devices", args["max-devices"]], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  createInterface({ input: child.stdout }).on("line", (line) => {
    if (line.startsWith("{")) onResult(JSON.parse(line) as ChaosResult);
  });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`chaos job for seeds ${seeds[0]}… exited with ${code}`))));
  });
}

function print(result: ChaosResult): void {
  const mark = result.violations.length === 0 ? "ok  " : "FAIL";
  console.log(`${mark} seed ${result.seed}: ${result.plan.method}, ${result.plan.devices} devices, ${result.outcome}, ${(result.elapsedMs / 1000).toFixed(1)} s`);
  for (const v of result.violations) console.log(`       ${v}`);
}

function report(results: ChaosResult[], elapsedMs: number): void {
  const failed = results.filter((r) => r.violations.length > 0);
  console.log();
  console.log(`${results.length} runs in ${(elapsedMs / 1000).toFixed(0)} s; ${failed.length} with violations.`);
  console.table(FAULT_KINDS.map((kind) => {
    const hit = results.filter((r) => r.injected[kind] > 0);
    return {
      fault: FAULT_LABELS[kind],
      injected: hit.reduce((n, r) => n + r.injected[kind], 0),
      "in runs": hit.length,
      survived: hit.filter((r) => r.violations.length === 0).reduce((n, r) => n + r.injected[kind], 0),
    };
  }));
  for (const r of failed) console.log(`replay seed ${r.seed}: npm run chaos -- --seed ${r.seed} --runs 1 --verbose`);
}

async function main(): Promise<number> {
  if (args.worker !== undefined) {
    await runSeeds(args.worker.split(",").map((s) => whole("worker", s, 0)), (r) => process.stdout.write(`${JSON.stringify(r)}\n`));
    return 0;
  }
  const runs = whole("runs", args.runs, 1);
  const first = whole("seed", args.seed, 0);
  const jobs = Math.min(runs, whole("jobs", args.jobs, 1));
  const seeds = Array.from({ length: runs }, (_, i) => first + i);
  const results: ChaosResult[] = [];
  const collect = (result: ChaosResult) => {
    results.push(result);
    print(result);
  };
  const started = Date.now();
  if (jobs === 1 || args.verbose) await runSeeds(seeds, collect);
  else await Promise.all(Array.from({ length: jobs }, (_, j) => runJob(seeds.filter((_, i) => i % jobs === j), collect)));
  report(results.sort((a, b) => a.seed - b.seed), Date.now() - started);
  return results.some((r) => r.violations.length > 0) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${ensureError(error).message}\n`);
    process.exit(2);
  },
);
