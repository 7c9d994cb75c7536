/**
 * `npm run bench`: figures as ratios against baselines measured in the same run.
 *   npm run bench                    both parts
 *   npm run bench -- --part copy     the server-side copy vs download-and-upload (>= 1 GiB)
 *   npm run bench -- --part summary  the summary reader vs gunzip-only and a naive baseline (1M devices)
 */
import "./quietFunctions.js";
import { parseArgs } from "node:util";
import { copyBench } from "./bench/copyBench.js";
import { summaryBench } from "./bench/summaryBench.js";

const { values } = parseArgs({
  options: {
    part: { type: "string", default: "all" },
    "copy-mib": { type: "string", default: "1100" },
    devices: { type: "string", default: "1000000" },
    "records-per-file": { type: "string", default: "100000" },
  },
});

if (!["all", "copy", "summary"].includes(values.part)) throw new Error(`--part must be all, copy or summary, got "${values.part}"`);
if (values.part === "all" || values.part === "copy") await copyBench({ totalMiB: Number(values["copy-mib"]) });
if (values.part === "all" || values.part === "summary") {
  await summaryBench({ devices: Number(values.devices), recordsPerFile: Number(values["records-per-file"]), seed: 7 });
}
process.exit(0);
