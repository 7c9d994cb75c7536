import "../../local/quietFunctions.js";
import { describe, expect, it } from "vitest";
import { inject } from "vitest";
import { chaosRun } from "../../local/chaos/chaosRun.js";
import { FAULT_KINDS } from "../../local/chaos/plan.js";

/*
 * The short chaos run: a few seeds of `npm run chaos` whose fault plans together cover every kind of
 * fault (chosen once by a greedy cover of the plans of seeds 1..300), on tenants of at most 200
 * devices. The whole run is `npm run chaos` (200+ seeds).
 */
const SEEDS = [238, 5, 70, 30, 15];

describe("the pipeline under seeded chaos", () => {
  const injected = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0]));

  it.each(SEEDS)("keeps every invariant through the faults of seed %i and a rerun after them", async (seed) => {
    const result = await chaosRun(inject("azurite"), seed, { maxDevices: 200, settleMs: 60_000 });
    for (const kind of FAULT_KINDS) injected[kind]! += result.injected[kind];
    expect(result.violations, `replay: npm run chaos -- --seed ${seed} --runs 1 --verbose`).toEqual([]);
  }, 120_000);

  it("injected every kind of fault over those seeds", () => {
    expect(Object.entries(injected).filter(([, n]) => n === 0).map(([kind]) => kind)).toEqual([]);
  });
});
