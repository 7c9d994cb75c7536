import { afterEach, describe, expect, it } from "vitest";
import { appStart } from "../../../functions/appStart.js";

const saved = { ...process.env };
afterEach(() => {
  for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
  Object.assign(process.env, saved);
});

describe("appStart", () => {
  it("fails the host's start-up on a bad setting, naming it", () => {
    process.env.DATA_STORAGE = "UseDevelopmentStorage=true";
    process.env.AzureWebJobsStorage = "UseDevelopmentStorage=true";
    process.env.EXPORT_SAS_VALID_HOURS = "forty";
    expect(() => appStart()).toThrow(/EXPORT_SAS_VALID_HOURS/);
  });

  it("passes with the settings a deployment gives", () => {
    process.env.DATA_STORAGE = "UseDevelopmentStorage=true";
    process.env.AzureWebJobsStorage = "UseDevelopmentStorage=true";
    delete process.env.EXPORT_SAS_VALID_HOURS;
    expect(() => appStart()).not.toThrow();
  });
});
