import { describe, expect, it } from "vitest";
import { compareRows, expectedRows, latestPerDevice, type ExpectedRows } from "../../../local/chaos/recount.js";
import { generateFaultedDataset } from "../../../local/simulator/generator.js";
import { MEASURES, type SummaryRow } from "../../../shared/health/aggregate.js";
import { MemoryLogger } from "../../../shared/log.js";
import { summariseSnapshot } from "../../../shared/health/summariseSnapshot.js";
import { streamOf } from "./fixtures.js";

/*
 * Golden tests: the summary of simulated export files (every quirk of the real files, devices in two
 * groups' files, malformed lines) against an independent recount over the same generated devices
 * (local/chaos/recount.ts, written without any of shared/health's code).
 */

const { dataset, faulted } = generateFaultedDataset({ seed: 2026, devices: 4000, recordsPerFile: 300, faults: { malformedLines: 9 } });

function rowsOf(rows: SummaryRow[]): ExpectedRows {
  return new Map(rows.map((r) => [`${r.dimension}|${r.value}`, Object.fromEntries(MEASURES.map((m) => [m, r.measures[m]]))]));
}

async function summarise(parallelism: number) {
  return summariseSnapshot({
    files: dataset.files.map((f, i) => ({ name: `f${i}`, open: async () => streamOf(f.body, 7_777) })),
    generatedTime: dataset.generatedTime,
    runId: "golden",
    parallelism,
    quarantineSampleLines: 5,
    logger: new MemoryLogger(),
  });
}

describe("the daily summary against an independent recount of simulated devices", () => {
  it("has a truth in which each device's kept record is the latest of its records across files", () => {
    const all = latestPerDevice(dataset.files.flatMap((f) => f.truth));
    expect(all.duplicates).toBeGreaterThan(50);
    const byId = new Map(all.devices.map((d) => [d.machineId, d]));
    expect(byId.size).toBe(dataset.devices.length);
    for (const device of dataset.devices) expect(byId.get(device.machineId)).toBe(device);
  });

  it.each([1, 2])("gives every dimension and measure of the recount (parallelism %i)", async (parallelism) => {
    const { rows, stats } = await summarise(parallelism);
    const records = dataset.files.reduce((n, f) => n + f.records, 0);
    expect(faulted.malformedLines).toBe(9);
    expect(stats).toMatchObject({
      recordsRead: records + 9,
      devices: dataset.devices.length,
      duplicates: records - dataset.devices.length,
      malformedLines: 9,
      failedFiles: [],
    });
    const expected = expectedRows(dataset.devices, dataset.generatedTime);
    expect(compareRows(expected, rowsOf(rows), MEASURES)).toEqual([]);
    // Every dimension is there, and each adds up to all devices.
    const dimensions = new Set(rows.map((r) => r.dimension));
    expect(dimensions.size).toBe(13);
    for (const dimension of dimensions) {
      expect(rows.filter((r) => r.dimension === dimension).reduce((n, r) => n + r.measures.Devices, 0)).toBe(dataset.devices.length);
    }
  });

  it("would notice a wrong count: the recount differs from the rows of a device set one short", async () => {
    const { rows } = await summarise(1);
    const expected = expectedRows(dataset.devices.slice(1), dataset.generatedTime);
    expect(compareRows(expected, rowsOf(rows), MEASURES).length).toBeGreaterThan(10);
  });
});
