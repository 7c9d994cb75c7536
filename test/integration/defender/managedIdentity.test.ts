import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { DefenderCredentialSettings } from "../../../shared/config.js";
import { createDefenderCredential } from "../../../shared/defender/credential.js";
import { DefenderAuthError } from "../../../shared/errors.js";
import { makeCertificate, startTokenServer, type Pem, type TokenServer } from "./tokenServer.js";

// The Functions host (App Service, Flex Consumption) hands a managed identity to the app through
// IDENTITY_ENDPOINT and IDENTITY_HEADER; the test token server plays that endpoint. This file has
// its own worker, so the variables stay here.

const TENANT = "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f";
const WORKLOAD_APP = "44444444-aaaa-4bbb-8ccc-444444444444";
const USER_ASSIGNED = "55555555-aaaa-4bbb-8ccc-555555555555";
const SCOPE = "https://api.securitycenter.microsoft.com/.default";

let tls: Pem;
let tokens: TokenServer;

beforeAll(async () => {
  tls = makeCertificate("127.0.0.1", "IP:127.0.0.1,DNS:localhost");
  tokens = await startTokenServer({
    tls,
    tenantId: TENANT,
    managedIdentities: ["system", USER_ASSIGNED],
    apps: {
      // The federated credential: trust managed identity tokens issued for the token-exchange audience.
      [WORKLOAD_APP]: {
        assertion: (jwt) => {
          const issued = tokens.issued.get(jwt);
          return issued?.grant === "managed_identity" && issued.scope === "api://AzureADTokenExchange";
        },
      },
    },
  });
  vi.stubEnv("IDENTITY_ENDPOINT", tokens.identityEndpoint);
  vi.stubEnv("IDENTITY_HEADER", tokens.identityHeader);
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await tokens?.close();
  tls?.remove();
});

function settings(overrides: Partial<DefenderCredentialSettings>): DefenderCredentialSettings {
  return { auth: "managedIdentity", authorityHost: tokens.authorityHost, scope: SCOPE, ...overrides };
}

const trust = () => ({ tlsOptions: { ca: tls.cert } });

describe("createDefenderCredential with a managed identity", () => {
  it("managedIdentity: the system-assigned identity's token for the Defender resource", async () => {
    const token = await createDefenderCredential(settings({}), trust()).getToken(SCOPE);
    expect(tokens.issued.get(token.token)).toEqual({ clientId: "system", scope: "https://api.securitycenter.microsoft.com", grant: "managed_identity" });
  });

  it("managedIdentity: the user-assigned identity named by its client id", async () => {
    const token = await createDefenderCredential(settings({ managedIdentityClientId: USER_ASSIGNED }), trust()).getToken(SCOPE);
    expect(tokens.issued.get(token.token)?.clientId).toBe(USER_ASSIGNED);
  });

  it("managedIdentity: an identity the host does not have fails naming it", async () => {
    const unknown = "66666666-aaaa-4bbb-8ccc-666666666666";
    const error = await createDefenderCredential(settings({ managedIdentityClientId: unknown }), trust())
      .getToken(SCOPE)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DefenderAuthError);
    expect((error as Error).message).toContain(`DEFENDER_AUTH=managedIdentity (the user-assigned managed identity ${unknown})`);
  });

  it("workloadIdentity: the app registration's token, with a managed identity token as the assertion", async () => {
    const s = settings({ auth: "workloadIdentity", tenantId: TENANT, clientId: WORKLOAD_APP, managedIdentityClientId: USER_ASSIGNED });
    const before = tokens.requests.length;
    const token = await createDefenderCredential(s, trust()).getToken(SCOPE);
    expect(tokens.issued.get(token.token)).toEqual({ clientId: WORKLOAD_APP, scope: SCOPE, grant: "client_credentials" });
    expect(tokens.requests.slice(before)).toEqual([
      "GET /msi/token",
      `GET /${TENANT}/v2.0/.well-known/openid-configuration`,
      `POST /${TENANT}/oauth2/v2.0/token`,
    ]);
  });
});
