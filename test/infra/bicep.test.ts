import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { CLOUDS, type Config, loadConfig, poisonQueueOf, QUEUES, SETTINGS } from "../../shared/config.js";

// NOTE: there is no Bicep compiler here, so these tests read the templates as text. They are the
// contract between infra/ and the code: setting names, roles, and what must never be deployed.

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const infraDir = join(root, "infra");
const functionsDir = join(root, "functions");

function filesUnder(dir: string, extension: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return filesUnder(path, extension);
    return entry.name.endsWith(extension) ? [path] : [];
  });
}

const read = (path: string): string => readFileSync(path, "utf8");
const name = (path: string): string => relative(root, path).replaceAll("\\", "/");

/** Bicep text without comments (strings kept), so a comment can neither satisfy nor break a check. */
function stripComments(text: string): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    if (text.startsWith("'''", i)) {
      const end = text.indexOf("'''", i + 3);
      const stop = end < 0 ? text.length : end + 3;
      out += text.slice(i, stop);
      i = stop;
    } else if (text[i] === "'") {
      let j = i + 1;
      while (j < text.length && text[j] !== "'") j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (text.startsWith("//", i)) {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (text.startsWith("/*", i)) {
      const end = text.indexOf("*/", i + 2);
      i = end < 0 ? text.length : end + 2;
    } else {
      out += text[i];
      i++;
    }
  }
  return out;
}

/** The balanced `{ ... }` starting at the first brace at or after `from` (comments already stripped). */
function blockFrom(text: string, from: number): string {
  const start = text.indexOf("{", from);
  if (start < 0) return "";
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (c === "'") {
      i++;
      while (i < text.length && text[i] !== "'") i += text[i] === "\\" ? 2 : 1;
    } else if (c === "{") depth++;
    else if (c === "}" && --depth === 0) return text.slice(start, i + 1);
  }
  return text.slice(start);
}

interface Resource {
  file: string;
  symbol: string;
  type: string;
  existing: boolean;
  body: string;
}

const bicep = filesUnder(infraDir, ".bicep").map((path) => ({ path, file: name(path), raw: read(path), text: stripComments(read(path)) }));

const resources: Resource[] = bicep.flatMap(({ file, text }) =>
  [...text.matchAll(/^\s*resource\s+(\w+)\s+'([^']+)'\s*(existing\s*)?=/gm)].map((m) => ({
    file,
    symbol: m[1]!,
    type: m[2]!,
    existing: Boolean(m[3]),
    body: blockFrom(text, m.index! + m[0].length),
  })),
);
const declared = (typePrefix: string) => resources.filter((r) => !r.existing && r.type.toLowerCase().startsWith(typePrefix.toLowerCase()));

function bicepFile(file: string): { raw: string; text: string } {
  const found = bicep.find((b) => b.file === file);
  if (!found) throw new Error(`${file} is missing`);
  return found;
}

/** `param <name> <type> = <default>` with its default's literal text (undefined when none). */
function paramDefaults(text: string): Map<string, string | undefined> {
  return new Map([...text.matchAll(/^param\s+(\w+)\s+\w+(?:\s*=\s*(.+?))?\s*$/gm)].map((m) => [m[1]!, m[2]]));
}

function unquote(literal: string | undefined): string | undefined {
  if (literal === undefined) return undefined;
  const m = /^'(.*)'$/.exec(literal.trim());
  return m ? m[1]!.replaceAll("\\'", "'") : literal.trim();
}

function allowedValues(text: string, param: string): string[] {
  const m = new RegExp(String.raw`@allowed\(\[([^\]]*)\]\)\s*(?:@\w+\([^\n]*\)\s*)*param\s+${param}\b`).exec(text);
  if (!m) throw new Error(`param ${param} has no @allowed list`);
  return [...m[1]!.matchAll(/'([^']*)'/g)].map((v) => v[1]!);
}

type SettingName = (typeof SETTINGS)[keyof typeof SETTINGS];

const main = bicepFile("infra/main.bicep");
const api = bicepFile("infra/app/api.bicep");

describe("infra: the templates exist and keep the azd layout", () => {
  it("has azure.yaml with the api service hosted as a function app", () => {
    const yaml = read(join(root, "azure.yaml"));
    expect(yaml).toMatch(/^services:\s*\n\s+api:\s*\n(?:\s+.*\n)*?\s+host:\s*function\s*$/m);
    expect(yaml).toMatch(/^\s+language:\s*(ts|js)\s*$/m);
  });

  it("deploys a Flex Consumption (FC1) plan with a Node runtime, 2048 MB instances and a scale-out cap", () => {
    expect(api.text).toMatch(/name:\s*'FC1'/);
    expect(api.text).toMatch(/tier:\s*'FlexConsumption'/);
    expect(api.text).toMatch(/runtime:\s*\{\s*name:\s*'node'/);
    expect(paramDefaults(main.text).get("instanceMemoryMB")).toBe("2048");
    expect(paramDefaults(main.text).get("nodeVersion")).toBe("'20'");
    expect(api.text).toMatch(/maximumInstanceCount:\s*maximumInstanceCount/);
  });
});

describe("infra: storage accounts accept identities only", () => {
  const accounts = declared("Microsoft.Storage/storageAccounts@");

  it("declares the host and the data storage accounts", () => {
    expect(accounts.map((a) => a.file).sort()).toEqual(["infra/app/data-storage.bicep", "infra/app/host-storage.bicep"]);
  });

  it.each(accounts.map((a) => [`${a.file} ${a.symbol}`, a] as const))("%s: shared keys off, TLS 1.2, no public blobs", (_, account) => {
    expect(account.body, "allowSharedKeyAccess must be the literal false").toMatch(/\ballowSharedKeyAccess:\s*false\b/);
    expect(account.body).toMatch(/\bminimumTlsVersion:\s*'TLS1_2'/);
    expect(account.body).toMatch(/\ballowBlobPublicAccess:\s*false\b/);
  });

  it("never sets allowSharedKeyAccess to anything but false", () => {
    for (const { file, text } of bicep) {
      for (const m of text.matchAll(/allowSharedKeyAccess:\s*(\S+)/g)) expect(m[1], file).toBe("false");
    }
  });

  it("creates the data account with a hierarchical namespace and a lifecycle rule for raw snapshots", () => {
    const data = bicepFile("infra/app/data-storage.bicep").text;
    expect(data).toMatch(/isHnsEnabled:\s*true/);
    expect(data).toMatch(/prefixMatch:\s*\[\s*'\$\{containerName\}\/raw\/'\s*\]/);
    expect(data).toMatch(/tierToCool:\s*\{\s*daysAfterModificationGreaterThan:\s*rawCoolAfterDays\s*\}/);
    expect(data).toMatch(/delete:\s*\{\s*daysAfterModificationGreaterThan:\s*rawDeleteAfterDays\s*\}/);
    const defaults = paramDefaults(main.text);
    expect(Number(defaults.get("rawCoolAfterDays"))).toBeLessThan(Number(defaults.get("rawDeleteAfterDays")));
  });
});

describe("infra: monitoring without local auth", () => {
  it("Application Insights has local (key) auth disabled", () => {
    const components = declared("Microsoft.Insights/components@");
    expect(components.length).toBeGreaterThan(0);
    for (const c of components) expect(c.body, c.file).toMatch(/\bdisableLocalAuth:\s*true\b/i);
  });

  it("Log Analytics has local auth disabled", () => {
    const workspaces = declared("Microsoft.OperationalInsights/workspaces@");
    expect(workspaces.length).toBeGreaterThan(0);
    for (const w of workspaces) expect(w.body, w.file).toMatch(/\bdisableLocalAuth:\s*true\b/);
  });
});

describe("infra: role assignments are least privilege", () => {
  // Every role the design needs, by id. Anything else fails until the design says why.
  const ALLOWED_ROLES: Record<string, string> = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": "Key Vault Secrets Officer",
  };
  // Named for a clear failure; the allow-list above is what really gates.
  const FORBIDDEN_ROLES: Record<string, string> = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": "Role Based Access Control Administrator",
    "17d1049b-9a84-46fb-8f53-869881c3d3ab": "Storage Account Contributor",
    "81a9662b-bebf-436f-a333-f67b29880f12": "Storage Account Key Operator Service Role",
    "00482a5a-887f-4fb3-b363-3b7fe8e74483": "Key Vault Administrator",
    "de139f84-1756-47ae-9be6-808fbbe84772": "Website Contributor",
  };
  // Which roles each module may grant (by key of the one map in main.bicep).
  const ROLES_BY_FILE: Record<string, string[]> = {
    "infra/app/host-storage.bicep": ["storageBlobDataOwner", "storageQueueDataContributor", "storageTableDataContributor"],
    "infra/app/data-access.bicep": ["storageBlobDataContributor", "storageTableDataContributor"],
    "infra/app/monitoring.bicep": ["monitoringMetricsPublisher"],
    "infra/app/keyvault.bicep": ["keyVaultSecretsUser", "keyVaultSecretsOfficer"],
  };
  const GUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

  const mapMatch = /^var roleIds = \{\n([\s\S]*?)\n\}/m.exec(main.raw);
  const roleMap = new Map(
    [...(mapMatch?.[1] ?? "").matchAll(/^\s*(\w+):\s*'([0-9a-f-]{36})'\s*\/\/\s*(\S.*)$/gm)].map((m) => [m[1]!, { id: m[2]!, comment: m[3]! }]),
  );

  it("takes every role id from one map in main.bicep, each with its name in a comment", () => {
    expect(mapMatch, "var roleIds = { ... } in infra/main.bicep").not.toBeNull();
    const entries = (mapMatch?.[1] ?? "").split("\n").filter((l) => l.trim() !== "");
    expect(roleMap.size, "every line of the map is `key: '<guid>' // <role name> ...`").toBe(entries.length);
    for (const [key, { id, comment }] of roleMap) {
      const role = ALLOWED_ROLES[id.toLowerCase()];
      expect(role, `${key} (${id}) is not a role the design needs`).toBeDefined();
      expect(comment.startsWith(role!), `${key}: the comment starts with the role's name, "${role}"`).toBe(true);
    }
  });

  it("has no role id outside the map and no broad role anywhere", () => {
    for (const { file, raw, text } of bicep) {
      for (const id of raw.match(GUID) ?? []) {
        expect(FORBIDDEN_ROLES[id.toLowerCase()], `${file} mentions ${id}`).toBeUndefined();
      }
      const outsideMap = file === "infra/main.bicep" ? text.replace(/^var roleIds = \{[\s\S]*?\n\}/m, "") : text;
      expect(outsideMap.match(GUID) ?? [], `${file}: role ids belong in the roleIds map of main.bicep`).toEqual([]);
    }
  });

  it("grants each module only the roles its resource needs", () => {
    for (const { file, text } of bicep) {
      if (file === "infra/main.bicep") continue;
      const used = [...new Set([...text.matchAll(/\broleIds\.(\w+)/g)].map((m) => m[1]!))];
      for (const key of used) {
        expect(roleMap.has(key), `${file}: roleIds.${key} is not in the map`).toBe(true);
        expect(ROLES_BY_FILE[file] ?? [], `${file} may not grant ${key}`).toContain(key);
      }
    }
  });

  it("names every assignment guid(scope, principal, role) and scopes it to one resource", () => {
    const assignments = declared("Microsoft.Authorization/roleAssignments@");
    expect(assignments.length).toBeGreaterThan(0);
    for (const a of assignments) {
      expect(a.body, `${a.file} ${a.symbol}: name: guid(<scope>.id, <principal>, <role>)`).toMatch(/\bname:\s*guid\(\s*\w+\.id\s*,\s*[\w.]+\s*,\s*[\w.]+\s*\)/);
      expect(a.body, `${a.file} ${a.symbol}: without scope it is granted on the whole resource group`).toMatch(/\bscope:\s*\w+\s*$/m);
      expect(a.body, `${a.file} ${a.symbol}`).toMatch(/\bprincipalType:/);
    }
  });

  it("scopes each data-plane role to the narrowest resource the code touches", () => {
    // Blob data on the data account only on the container; tables on the account (there is no table scope in Bicep).
    const expected: Record<string, Record<string, string>> = {
      "infra/app/data-access.bicep": { storageBlobDataContributor: "container", storageTableDataContributor: "account" },
      "infra/app/keyvault.bicep": { keyVaultSecretsUser: "vault", keyVaultSecretsOfficer: "vault" },
      "infra/app/monitoring.bicep": { monitoringMetricsPublisher: "applicationInsights" },
    };
    const assignments = declared("Microsoft.Authorization/roleAssignments@");
    for (const [file, roles] of Object.entries(expected)) {
      for (const [role, scope] of Object.entries(roles)) {
        const found = assignments.filter((a) => a.file === file && a.body.includes(`roleIds.${role}`));
        expect(found.length, `${file}: an assignment of ${role}`).toBeGreaterThan(0);
        for (const a of found) expect(a.body, `${file} ${a.symbol}: ${role} on ${scope}`).toMatch(new RegExp(`\\bscope:\\s*${scope}\\s*$`, "m"));
      }
    }
  });

  it("gives Key Vault Secrets Officer to the deploying user only, behind the flag", () => {
    const officer = declared("Microsoft.Authorization/roleAssignments@").filter((a) => a.body.includes("roleIds.keyVaultSecretsOfficer"));
    for (const a of officer) expect(a.body).toMatch(/principalId:\s*userPrincipalId/);
    expect(main.text).toMatch(/userPrincipalId:\s*allowUserIdentityPrincipal\s*\?\s*principalId\s*:\s*''/);
  });
});

describe("infra: app settings are exactly the names the code reads", () => {
  const begin = api.raw.indexOf("// app-settings:begin");
  const end = api.raw.indexOf("// app-settings:end");
  const block = begin >= 0 && end > begin ? api.raw.slice(begin, end) : "";
  const settings = new Map(
    [...stripComments(block).matchAll(/^\s*'?([A-Za-z_][A-Za-z0-9_]*)'?\s*:\s*(.+?)\s*$/gm)].map((m) => [m[1]!, m[2]!]),
  );
  const blockVars = [...block.matchAll(/^var\s+(\w+)\s*=/gm)].map((m) => m[1]!);

  const connection = (prefix: string) =>
    ["blobServiceUri", "queueServiceUri", "tableServiceUri", "credential", "clientId", "accountName"].map((s) => `${prefix}__${s}`);
  const RUNTIME = ["APPLICATIONINSIGHTS_CONNECTION_STRING", "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"];

  // How infra/ sets each name of SETTINGS, one entry per name (the type makes tsc fail on a new
  // setting until it is classified here). The rule the tests below enforce:
  // - param: an app setting from that parameter of infra/main.bicep, whose default (and the fallback
  //   in main.parameters.json, under the setting's own name) is the code's default, read from
  //   loadConfig() with only the required settings; its @minValue/@maxValue are the code's range.
  // - derived: an app setting computed in main.bicep the way the code derives it; each has its own test.
  // - identity: a connection, set only in its identity-based form (NAME__…), never as NAME (a
  //   connection string carries an account key).
  // - notSet: the allow-list of names deliberately not set in Azure, each with its reason.
  type How = { param: string; codeDefault: (c: Config) => string } | { derived: string } | { identity: true } | { notSet: string };
  const param = (name: string, codeDefault: (c: Config) => string): How => ({ param: name, codeDefault });
  const derived = (how: string): How => ({ derived: how });
  const S = SETTINGS;
  const AZURE = {
    [S.defenderCloud]: param("defenderCloud", (c) => c.defender.cloud),
    [S.defenderApiBaseUrl]: derived("per cloud (and API region), as CLOUDS[cloud].apiBaseUrl"),
    [S.defenderAuth]: param("defenderAuth", (c) => c.defender.credential.auth),
    [S.defenderTenantId]: derived("the parameter, or this subscription's tenant; app registration modes only"),
    [S.defenderClientId]: derived("the parameter, which has no default (the app registration's id); app registration modes only"),
    [S.defenderManagedIdentityClientId]: derived("the user-assigned identity's client id"),
    [S.defenderClientSecret]: derived("a Key Vault reference; secret mode only"),
    [S.defenderClientCertificate]: derived("a Key Vault reference; certificate mode only"),
    [S.defenderAuthorityHost]: derived("per cloud, as CLOUDS[cloud].authorityHost"),
    [S.defenderScope]: derived("per cloud, as CLOUDS[cloud].scope"),
    [S.defenderRetryBudgetSeconds]: param("defenderRetryBudgetSeconds", (c) => String(c.defender.retryBudgetMs / 1000)),
    [S.exportMethod]: param("exportMethod", (c) => c.export.method),
    [S.exportSchedule]: param("exportSchedule", (c) => c.export.schedule),
    [S.exportSasValidHours]: param("exportSasValidHours", (c) => String(c.export.sasValidHours)),
    [S.exportUrlRefreshBudget]: param("exportUrlRefreshBudget", (c) => String(c.export.urlRefreshBudget)),
    // No default in the code: the parameter's '' is what the code reads as unset.
    [S.exportJsonFilter]: param("exportJsonFilter", (c) => c.export.jsonFilter ?? ""),
    [S.exportJsonPageSize]: param("exportJsonPageSize", (c) => String(c.export.jsonPageSize)),
    [S.dataStorage]: { identity: true },
    [S.hostStorage]: { identity: true },
    [S.dataContainer]: param("dataContainerName", (c) => c.storage.container),
    [S.runsTable]: param("runsTableName", (c) => c.storage.runsTable),
    [S.summaryTable]: param("summaryTableName", (c) => c.storage.summaryTable),
    [S.copyBlockThresholdBytes]: param("copyBlockThresholdBytes", (c) => String(c.copy.blockThresholdBytes)),
    [S.copyBlockSizeBytes]: param("copyBlockSizeBytes", (c) => String(c.copy.blockSizeBytes)),
    [S.copyConcurrency]: param("copyConcurrency", (c) => String(c.copy.concurrency)),
    // The code's default is the cores Node sees, which depends on the machine: main.bicep sets the
    // instance size's documented cores instead (parameter summaryParallelism = 0).
    [S.summaryParallelism]: derived("the instance size's cores, or the parameter when above 0"),
    [S.quarantineSampleLines]: param("quarantineSampleLines", (c) => String(c.summary.quarantineSampleLines)),
    // The allow-list: never set in Azure.
    [S.defenderAllowLoopback]: { notSet: "the local simulator's switch: its default, false, is the only right value in Azure" },
    [S.defenderClientCertificatePath]: {
      notSet: "a file path, which does not exist on a Flex Consumption instance: the certificate comes from Key Vault as DEFENDER_CLIENT_CERTIFICATE",
    },
  } satisfies Record<SettingName, How>;
  const entries = Object.entries(AZURE) as Array<[SettingName, How]>;
  const notSet = entries.flatMap(([name, how]) => ("notSet" in how ? [name] : []));
  const identity = entries.flatMap(([name, how]) => ("identity" in how ? [name] : []));
  const params = entries.flatMap(([setting, how]) => ("param" in how ? [[how.param, setting, how] as const] : []));

  const NEVER = [
    // Connection strings carry account keys: identity-based settings only.
    ...identity,
    ...notSet,
    // Not supported on Flex Consumption (the runtime and version live in functionAppConfig).
    "FUNCTIONS_EXTENSION_VERSION",
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_WORKER_RUNTIME_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "WEBSITE_CONTENTSHARE",
    "WEBSITE_NODE_DEFAULT_VERSION",
    "SCM_DO_BUILD_DURING_DEPLOYMENT",
    "ENABLE_ORYX_BUILD",
  ];
  const ALLOWED = new Set([
    ...Object.values(SETTINGS).filter((s) => !NEVER.includes(s)),
    ...connection(SETTINGS.dataStorage),
    ...connection(SETTINGS.hostStorage),
    ...RUNTIME,
  ]);
  const REQUIRED = [
    `${SETTINGS.hostStorage}__blobServiceUri`,
    `${SETTINGS.hostStorage}__queueServiceUri`,
    `${SETTINGS.hostStorage}__credential`,
    `${SETTINGS.hostStorage}__clientId`,
    `${SETTINGS.dataStorage}__blobServiceUri`,
    `${SETTINGS.dataStorage}__tableServiceUri`,
    `${SETTINGS.dataStorage}__credential`,
    `${SETTINGS.dataStorage}__clientId`,
    ...RUNTIME,
  ];

  it("keeps every app setting between the markers in infra/app/api.bicep, and sets them from there only", () => {
    expect(block, "// app-settings:begin ... // app-settings:end").not.toBe("");
    expect(settings.size).toBeGreaterThan(0);
    const config = declared("config").find((r) => r.file === "infra/app/api.bicep" && /name:\s*'appsettings'/.test(r.body));
    expect(config, "a 'config' resource named 'appsettings'").toBeDefined();
    const union = /properties:\s*union\(([^)]*)\)/.exec(config!.body)?.[1]?.split(",").map((s) => s.trim()) ?? [];
    expect(union.sort()).toEqual([...blockVars].sort());
    for (const { file, text } of bicep) expect(text, `${file}: siteConfig.appSettings`).not.toMatch(/\bappSettings\s*:\s*\[/);
  });

  it("sets no name the code does not read (typos, other names, Flex-unsupported or key-based settings)", () => {
    for (const key of settings.keys()) {
      expect(NEVER, `${key} must not be set in Azure`).not.toContain(key);
      expect(ALLOWED.has(key), `${key} is not read by shared/config.ts (SETTINGS) nor by the Functions runtime`).toBe(true);
    }
  });

  it("says how infra/ sets each name shared/config.ts reads", () => {
    expect(Object.keys(AZURE).sort()).toEqual(Object.values(SETTINGS).sort());
    for (const [name, how] of entries) {
      if ("notSet" in how) expect(how.notSet.length, `${name}: the reason it is not set`).toBeGreaterThan(20);
    }
  });

  it.each(entries.map(([name, how]) => [name, how] as const))("%s is set in Azure unless allow-listed with a reason", (name, how) => {
    if ("notSet" in how) {
      expect(settings.has(name), `${name} is on the not-set list (${how.notSet})`).toBe(false);
    } else if ("identity" in how) {
      expect(settings.has(name), `${name} as a connection string`).toBe(false);
      expect(settings.get(`${name}__credential`), `${name}__credential`).toBe("'managedidentity'");
    } else {
      expect(settings.has(name), `${name} is not set by infra/app/api.bicep: set it, or allow-list it with a reason`).toBe(true);
    }
  });

  it("sets every setting the runtime needs in Azure", () => {
    for (const key of REQUIRED) expect(settings.has(key), `${key} is not set`).toBe(true);
  });

  it("connects to storage with the managed identity", () => {
    for (const prefix of [SETTINGS.hostStorage, SETTINGS.dataStorage]) {
      expect(settings.get(`${prefix}__credential`)).toBe("'managedidentity'");
      expect(settings.get(`${prefix}__clientId`)).toBe("identityClientId");
    }
    expect(settings.get(SETTINGS.defenderManagedIdentityClientId)).toBe("identityClientId");
    expect(settings.get("APPLICATIONINSIGHTS_AUTHENTICATION_STRING")).toBe("'ClientId=${identityClientId};Authorization=AAD'");
  });

  it("reads the Defender secret or certificate through a Key Vault reference, never a value", () => {
    for (const key of [SETTINGS.defenderClientSecret, SETTINGS.defenderClientCertificate]) {
      expect(settings.get(key)).toBe("defenderCredentialReference");
    }
    expect(main.text).toMatch(/var defenderCredentialReference = useKeyVault \? '@Microsoft\.KeyVault\(SecretUri=\$\{keyVaultUri\}secrets\/\$\{credentialSecretName\}\/\)' : ''/);
    expect(api.text).toMatch(/keyVaultReferenceIdentity:\s*identityId/);
  });

  // The code's defaults, as it applies them with only the required settings present.
  const base = { [SETTINGS.dataStorage]: "UseDevelopmentStorage=true", [SETTINGS.hostStorage]: "UseDevelopmentStorage=true" };
  const defaults = loadConfig(base);
  const mainDefaults = paramDefaults(main.text);
  const parameterFile = JSON.parse(read(join(infraDir, "main.parameters.json"))) as { parameters: Record<string, { value?: unknown }> };

  it.each(params)("param %s (%s) defaults to the code's default", (param, setting, how) => {
    const codeDefault = how.codeDefault(defaults);
    const bicepDefault = unquote(mainDefaults.get(param));
    expect(bicepDefault, `infra/main.bicep param ${param}`).toBe(codeDefault);
    expect(loadConfig({ ...base, [setting]: bicepDefault }), `${setting}=${bicepDefault} reads as the default`).toEqual(defaults);
    expect([param, `string(${param})`], `${setting} comes from param ${param}`).toContain(settings.get(setting));
    expect(main.text).toMatch(new RegExp(String.raw`\b${param}:\s*${param}\b`));
    // azd: ${VAR} or ${VAR=<default>}, VAR the setting's own name; unset, VAR gives its default ('' without one).
    const value = parameterFile.parameters[param]?.value;
    const m = typeof value === "string" ? /^\$\{(\w+)(?:=(.*))?\}$/.exec(value) : null;
    expect(m?.[1], `infra/main.parameters.json ${param}: "\${${setting}=<default>}"`).toBe(setting);
    expect(m?.[2] ?? "", `infra/main.parameters.json ${param}: the fallback is the code's default`).toBe(codeDefault);
  });

  /** `@minValue(n)` / `@maxValue(n)` of a param of main.bicep. */
  function bounds(param: string): { min?: number; max?: number } {
    const decorators = new RegExp(String.raw`((?:^@[^\n]*\n)*)param\s+${param}\b`, "m").exec(main.text)?.[1] ?? "";
    const value = (name: string) => {
      const m = new RegExp(String.raw`@${name}\((-?\d+)\)`).exec(decorators);
      return m ? Number(m[1]) : undefined;
    };
    return { min: value("minValue"), max: value("maxValue") };
  }

  const intParams = params.filter(([param]) => /^-?\d+$/.test(mainDefaults.get(param) ?? ""));
  it.each(intParams)("param %s (%s) offers exactly the code's range", (param, setting) => {
    const { min, max } = bounds(param);
    expect(min, `@minValue on ${param}`).toBeDefined();
    expect(max, `@maxValue on ${param}`).toBeDefined();
    const load = (n: number) => () => loadConfig({ ...base, [setting]: String(n) });
    expect(load(min!), `${setting}=${min}`).not.toThrow();
    expect(load(max!), `${setting}=${max}`).not.toThrow();
    expect(load(min! - 1), `${setting}=${min! - 1} is refused by the code, so the template must refuse it too`).toThrow();
    expect(load(max! + 1), `${setting}=${max! + 1} is refused by the code, so the template must refuse it too`).toThrow();
  });

  it("derives the API base URL, authority host and scope per cloud exactly as shared/config.ts does", () => {
    expect(allowedValues(main.text, "defenderCloud").sort()).toEqual(Object.keys(CLOUDS).sort());
    const maps = [
      ["defenderApiBaseUrls", "apiBaseUrl"],
      ["defenderAuthorityHosts", "authorityHost"],
      ["defenderScopes", "scope"],
    ] as const;
    for (const [map, key] of maps) {
      const values = blockFrom(main.text, main.text.indexOf(`var ${map} =`));
      for (const cloud of Object.keys(CLOUDS) as Array<keyof typeof CLOUDS>) {
        const derived = loadConfig({ ...base, [SETTINGS.defenderCloud]: cloud }).defender;
        const expected = key === "apiBaseUrl" ? derived.apiBaseUrl : derived.credential[key];
        expect(expected).toBe(CLOUDS[cloud][key]);
        expect(values, `${map}.${cloud}`).toMatch(new RegExp(String.raw`\b${cloud}:\s*'${expected.replaceAll(".", "\\.")}'`));
      }
    }
    expect(main.text).toMatch(/'https:\/\/\$\{defenderApiRegion\}\.api\.security\.microsoft\.com'/);
    expect(main.text).toMatch(/\bdefenderAuthorityHost:\s*defenderAuthorityHosts\[defenderCloud\]/);
    expect(main.text).toMatch(/\bdefenderScope:\s*defenderScopes\[defenderCloud\]/);
    expect(settings.get(SETTINGS.defenderApiBaseUrl)).toBe("defenderApiBaseUrl");
    expect(settings.get(SETTINGS.defenderAuthorityHost)).toBe("defenderAuthorityHost");
    expect(settings.get(SETTINGS.defenderScope)).toBe("defenderScope");
  });

  it("sets SUMMARY_PARALLELISM to the instance size's cores unless the parameter says otherwise", () => {
    expect(mainDefaults.get("summaryParallelism"), "0: derived from instanceMemoryMB").toBe("0");
    expect(bounds("summaryParallelism")).toEqual({ min: 0, max: 64 });
    expect(() => loadConfig({ ...base, [SETTINGS.summaryParallelism]: "64" })).not.toThrow();
    expect(() => loadConfig({ ...base, [SETTINGS.summaryParallelism]: "65" })).toThrow();
    expect(main.text).toMatch(
      /var resolvedSummaryParallelism = summaryParallelism > 0 \? summaryParallelism : instanceCores\[string\(instanceMemoryMB\)\]/,
    );
    expect(main.text).toMatch(/\bsummaryParallelism:\s*resolvedSummaryParallelism\b/);
    expect(settings.get(SETTINGS.summaryParallelism)).toBe("string(summaryParallelism)");
    const sizes = /@allowed\(\[([^\]]*)\]\)\s*(?:@\w+\([^\n]*\)\s*)*param\s+instanceMemoryMB\b/.exec(main.text)?.[1]?.split(",").map((s) => s.trim());
    const cores = new Map(
      [...blockFrom(main.text, main.text.indexOf("var instanceCores =")).matchAll(/'(\d+)':\s*(\d+)/g)].map((m) => [m[1]!, m[2]!]),
    );
    expect([...cores.keys()].sort(), "a core count for every allowed instanceMemoryMB").toEqual([...(sizes ?? [])].sort());
    for (const [size, n] of cores) {
      expect(loadConfig({ ...base, [SETTINGS.summaryParallelism]: n }).summary.parallelism, `${size} MB`).toBe(Number(n));
    }
  });

  it("offers only values the code accepts", () => {
    const appRegistration = {
      [SETTINGS.defenderTenantId]: "00000000-0000-0000-0000-000000000001",
      [SETTINGS.defenderClientId]: "00000000-0000-0000-0000-000000000002",
      [SETTINGS.defenderManagedIdentityClientId]: "00000000-0000-0000-0000-000000000003",
      [SETTINGS.defenderClientSecret]: "not-a-real-secret",
      [SETTINGS.defenderClientCertificate]: "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----",
    };
    for (const auth of allowedValues(main.text, "defenderAuth")) {
      expect(() => loadConfig({ ...base, ...appRegistration, [SETTINGS.defenderAuth]: auth }), `DEFENDER_AUTH=${auth}`).not.toThrow();
    }
    for (const method of allowedValues(main.text, "exportMethod")) {
      expect(() => loadConfig({ ...base, [SETTINGS.exportMethod]: method }), `EXPORT_METHOD=${method}`).not.toThrow();
    }
    for (const region of allowedValues(main.text, "defenderApiRegion").filter((r) => r !== "")) {
      const url = `https://${region}.api.security.microsoft.com`;
      expect(loadConfig({ ...base, [SETTINGS.defenderApiBaseUrl]: url }).defender.apiBaseUrl).toBe(url);
    }
  });

  it("creates the queues the code listens on, and their poison queues, in the host storage account", () => {
    const names = [...(/^var hostQueueNames = \[([^\]]*)\]/m.exec(main.text)?.[1] ?? "").matchAll(/'([^']+)'/g)].map((m) => m[1]!);
    const expected = Object.values(QUEUES).flatMap((q) => [q, poisonQueueOf(q)]);
    expect(names.sort()).toEqual(expected.sort());
  });

  it("sets every setting the functions' bindings name (%NAME% expressions, connections)", () => {
    const sources = filesUnder(functionsDir, ".ts").map(read).join("\n");
    const expressions = [...sources.matchAll(/%(\w+)%|%\$\{SETTINGS\.(\w+)\}%/g)].map((m) => m[1] ?? SETTINGS[m[2] as keyof typeof SETTINGS]);
    for (const setting of expressions) expect(settings.has(setting), `%${setting}% in functions/`).toBe(true);
    const connections = [...sources.matchAll(/connection:\s*(?:["'](\w+)["']|(QUEUE_CONNECTION)|SETTINGS\.(\w+))/g)].map((m) =>
      m[1] ?? (m[2] ? SETTINGS.hostStorage : SETTINGS[m[3] as keyof typeof SETTINGS]),
    );
    for (const prefix of connections) {
      expect(settings.has(`${prefix}__queueServiceUri`) || settings.has(`${prefix}__blobServiceUri`), `connection ${prefix} in functions/`).toBe(true);
    }
  });
});

describe("infra: no secret in a template, a parameter or an output", () => {
  const SECRETISH = /key|secret|password|passwd|connectionstring|connection_string|sas|token|credential|certificate/i;
  // Names of things, not the things: fooSecretName, keyVaultUri, clientId...; and quantities (exportSasValidHours).
  const A_NAME = /(name|names|uri|url|id|enabled|type|version|group|hours|days|seconds|bytes|count)$/i;
  const withoutVaultWord = (s: string) => s.replace(/key_?vault/gi, "");

  it("never calls listKeys() or another list*() that returns keys or SAS tokens", () => {
    for (const { file, text } of bicep) {
      expect(text, file).not.toMatch(/\blist(Keys|AccountSas|ServiceSas|ConnectionStrings|Secrets|Credentials?)\s*\(/i);
    }
  });

  it("outputs names and endpoints only", () => {
    for (const { file, text } of bicep) {
      for (const m of text.matchAll(/^output\s+(\w+)\s+\w+\s*=\s*(.+)$/gm)) {
        const [, output, value] = m;
        expect(SECRETISH.test(withoutVaultWord(output!)), `${file}: output ${output}`).toBe(false);
        expect(value, `${file}: output ${output}`).not.toMatch(/ConnectionString|InstrumentationKey|listKeys|primaryKey|secret/i);
      }
      expect(text, `${file}: @secure() outputs`).not.toMatch(/@secure\(\)\s*output/);
    }
  });

  it("has no default value for a secret parameter", () => {
    for (const { file, text } of bicep) {
      for (const m of text.matchAll(/^((?:@[^\n]*\n)*)param\s+(\w+)\s+\w+(?:\s*=\s*(.+?))?\s*$/gm)) {
        const [, decorators, param, fallback] = m;
        const secret = decorators!.includes("@secure()") || (SECRETISH.test(withoutVaultWord(param!)) && !A_NAME.test(param!));
        if (secret && fallback !== undefined) expect(fallback.trim(), `${file}: param ${param}`).toBe("''");
      }
    }
  });

  it("keeps secrets out of main.parameters.json", () => {
    const parameters = JSON.parse(read(join(infraDir, "main.parameters.json"))) as { parameters: Record<string, { value?: unknown; reference?: unknown }> };
    for (const [param, { value }] of Object.entries(parameters.parameters)) {
      if (SECRETISH.test(withoutVaultWord(param)) && !A_NAME.test(param)) expect(value, `parameter ${param}`).toBeUndefined();
      expect(String(value), `parameter ${param}`).not.toMatch(/AccountKey=|SharedAccessSignature=|[?&]sig=|-----BEGIN/i);
    }
  });
});

describe("functions: HTTP triggers require a function key", () => {
  const httpFiles = filesUnder(functionsDir, ".ts")
    .map((path) => ({ file: name(path), text: read(path) }))
    .filter(({ text }) => /\bapp\.(http|get|post|put|patch|deleteRequest)\s*\(/.test(text));

  it("finds the HTTP functions", () => {
    expect(httpFiles.map((f) => f.file).sort()).toEqual(["functions/runStatus.ts", "functions/startRun.ts"]);
  });

  it.each(httpFiles.map((f) => [f.file, f.text] as const))("%s uses authLevel 'function' and nothing else", (file, text) => {
    const levels = [...text.matchAll(/authLevel\s*:\s*(\S+?)\s*[,}\n]/g)].map((m) => m[1]!);
    expect(levels.length, `${file}: every app.http(...) sets authLevel: "function" (the default is anonymous)`).toBeGreaterThan(0);
    for (const level of levels) expect(level.replaceAll(/["'`]/g, ""), file).toBe("function");
  });
});
