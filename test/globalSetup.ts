import type { TestProject } from "vitest/node";
import { startAzurite, type AzuriteEndpoints } from "../local/azurite.js";

declare module "vitest" {
  export interface ProvidedContext {
    azurite: AzuriteEndpoints;
  }
}

/** One in-memory Azurite for the whole suite; tests isolate themselves by unique names. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const azurite = await startAzurite();
  const { close, ...endpoints } = azurite;
  project.provide("azurite", endpoints);
  return close;
}
