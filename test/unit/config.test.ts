import { describe, expect, it } from "vitest";
import { CLOUDS, loadConfig, SETTINGS } from "../../shared/config.js";
import { ConfigError } from "../../shared/errors.js";

const AZURITE = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;";
const minimal = { DATA_STORAGE: AZURITE, AzureWebJobsStorage: AZURITE };

function problemOf(env: Record<string, string>): ConfigError {
  try {
    loadConfig({ ...minimal, ...env });
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
}

describe("loadConfig", () => {
  it("gives the documented defaults from the storage settings alone", () => {
    const config = loadConfig(minimal);
    expect(config.defender.cloud).toBe("public");
    expect(config.defender.apiBaseUrl).toBe("https://api.security.microsoft.com");
    expect(config.defender.credential.auth).toBe("managedIdentity");
    expect(config.defender.credential.scope).toBe("https://api.securitycenter.microsoft.com/.default");
    expect(config.export).toMatchObject({ method: "files", sasValidHours: 6, jsonPageSize: 10_000, schedule: "0 30 3 * * *" });
    expect(config.storage).toMatchObject({ container: "defender-avhealth", runsTable: "ExportRuns", summaryTable: "DeviceHealthDaily" });
    expect(config.copy.blockThresholdBytes).toBe(256 * 1024 * 1024);
  });

  it("follows the cloud for the API host, authority and scope", () => {
    for (const cloud of ["gcc", "gcchigh", "dod"] as const) {
      const config = loadConfig({ ...minimal, DEFENDER_CLOUD: cloud });
      expect(config.defender.apiBaseUrl).toBe(CLOUDS[cloud].apiBaseUrl);
      expect(config.defender.credential.authorityHost).toBe(CLOUDS[cloud].authorityHost);
      expect(config.defender.credential.scope).toBe(CLOUDS[cloud].scope);
    }
    expect(loadConfig({ ...minimal, DEFENDER_CLOUD: "gcchigh" }).defender.credential.authorityHost).toBe("https://login.microsoftonline.us");
  });

  it("reads identity-based storage connections in the Functions convention", () => {
    const config = loadConfig({
      DATA_STORAGE__blobServiceUri: "https://data.blob.core.windows.net",
      DATA_STORAGE__tableServiceUri: "https://data.table.core.windows.net/",
      DATA_STORAGE__credential: "managedidentity",
      DATA_STORAGE__clientId: "00000000-0000-0000-0000-000000000001",
      AzureWebJobsStorage__accountName: "hoststore",
    });
    expect(config.storage.data).toEqual({
      kind: "identity",
      blobServiceUri: "https://data.blob.core.windows.net",
      queueServiceUri: undefined,
      tableServiceUri: "https://data.table.core.windows.net",
      clientId: "00000000-0000-0000-0000-000000000001",
    });
    expect(config.storage.queues).toMatchObject({ kind: "identity", queueServiceUri: "https://hoststore.queue.core.windows.net" });
  });

  it.each([
    [{ DEFENDER_CLOUD: "azurechina" }, SETTINGS.defenderCloud],
    [{ DEFENDER_API_BASE_URL: "http://api.security.microsoft.com" }, SETTINGS.defenderApiBaseUrl],
    [{ DEFENDER_API_BASE_URL: "http://127.0.0.1:8080" }, SETTINGS.defenderApiBaseUrl],
    [{ DEFENDER_API_BASE_URL: "https://user:pw@api.security.microsoft.com" }, SETTINGS.defenderApiBaseUrl],
    [{ DEFENDER_API_BASE_URL: "not a url" }, SETTINGS.defenderApiBaseUrl],
    [{ DEFENDER_AUTH: "password" }, SETTINGS.defenderAuth],
    [{ DEFENDER_AUTH: "secret", DEFENDER_CLIENT_ID: "00000000-0000-0000-0000-000000000001", DEFENDER_CLIENT_SECRET: "x" }, SETTINGS.defenderTenantId],
    [{ DEFENDER_AUTH: "secret", DEFENDER_TENANT_ID: "contoso.onmicrosoft.com", DEFENDER_CLIENT_ID: "00000000-0000-0000-0000-000000000001" }, SETTINGS.defenderClientSecret],
    [{ DEFENDER_AUTH: "certificate", DEFENDER_TENANT_ID: "contoso.onmicrosoft.com", DEFENDER_CLIENT_ID: "00000000-0000-0000-0000-000000000001" }, SETTINGS.defenderClientCertificate],
    [{ DEFENDER_CLIENT_ID: "my-app" }, SETTINGS.defenderClientId],
    [{ DEFENDER_MANAGED_IDENTITY_CLIENT_ID: "abc" }, SETTINGS.defenderManagedIdentityClientId],
    [{ EXPORT_METHOD: "csv" }, SETTINGS.exportMethod],
    [{ EXPORT_SCHEDULE: "every day" }, SETTINGS.exportSchedule],
    [{ EXPORT_SCHEDULE: "0 61 3 * * *" }, SETTINGS.exportSchedule],
    [{ EXPORT_SCHEDULE: "a b c d e f" }, SETTINGS.exportSchedule],
    [{ EXPORT_SAS_VALID_HOURS: "0" }, SETTINGS.exportSasValidHours],
    [{ EXPORT_SAS_VALID_HOURS: "6.5" }, SETTINGS.exportSasValidHours],
    [{ EXPORT_JSON_PAGE_SIZE: "20000" }, SETTINGS.exportJsonPageSize],
    [{ DATA_STORAGE: "" }, SETTINGS.dataStorage],
    [{ DATA_STORAGE: "https://example.com" }, SETTINGS.dataStorage],
    [{ DATA_CONTAINER: "Bad_Name" }, SETTINGS.dataContainer],
    [{ RUNS_TABLE: "runs-table" }, SETTINGS.runsTable],
    [{ COPY_BLOCK_SIZE_BYTES: "-1" }, SETTINGS.copyBlockSizeBytes],
    [{ DEFENDER_ALLOW_LOOPBACK: "maybe" }, SETTINGS.defenderAllowLoopback],
    [{ DATA_STORAGE: "", DATA_STORAGE__blobServiceUri: "https://x.blob.core.windows.net?sv=1&sig=abc" }, "DATA_STORAGE__blobServiceUri"],
  ])("rejects %j, naming %s", (env, setting) => {
    const error = problemOf(env as Record<string, string>);
    expect(error.problems.map((p) => p.setting)).toContain(setting);
    expect(error.message).toContain(setting);
    expect(error.message).toMatch(/expected /);
    expect(error.message).not.toMatch(/sig=abc/);
  });

  it("names every bad setting at once", () => {
    const error = problemOf({ EXPORT_METHOD: "csv", DATA_CONTAINER: "X" });
    expect(error.problems.map((p) => p.setting)).toEqual([SETTINGS.exportMethod, SETTINGS.dataContainer]);
    expect(error.message).toMatch(/^2 settings are wrong/);
  });

  it("accepts loopback http hosts only when the simulator setting allows them", () => {
    const config = loadConfig({ ...minimal, DEFENDER_ALLOW_LOOPBACK: "true", DEFENDER_API_BASE_URL: "http://127.0.0.1:8080/", DEFENDER_AUTHORITY_HOST: "http://localhost:9" });
    expect(config.defender.apiBaseUrl).toBe("http://127.0.0.1:8080");
    expect(config.defender.allowLoopback).toBe(true);
  });

  it("never echoes a secret's value in its error", () => {
    const error = problemOf({ DEFENDER_AUTH: "certificate", DEFENDER_TENANT_ID: "t.example.com", DEFENDER_CLIENT_ID: "00000000-0000-0000-0000-000000000001", DEFENDER_CLIENT_CERTIFICATE: "supersecretvalue" });
    expect(error.message).not.toContain("supersecretvalue");
  });
});
