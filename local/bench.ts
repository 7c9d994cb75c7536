/**
 * `npm run bench`: figures as ratios against baselines measured in the same run.
 *   npm run bench                    both parts
 *   npm run bench -- --part copy     the server-side copy vs download-and-upload (>= 1 GiB)
 *   npm run bench -- --part summary  the summary reader vs gunzip-only and a naive baseline (1M devices)
 */
import "./quietFunctions.js";
import { parseArgs } from "node:util";
import { copyBench } from "./bench/copyBench.js";

const { values } = parseArgs({
  options: {
    part: { type: "string", default: "all" },
    "copy-mib": { type: "string", default: "1100" },
  },
});

if (values.part === "all" || values.part === "copy") await copyBench({ totalMiB: Number(values["copy-mib"]) });
process.exit(0);
