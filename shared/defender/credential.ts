import type { AccessToken, GetTokenOptions, TokenCredential, TokenCredentialOptions } from "@azure/identity";
import {
  ClientAssertionCredential,
  ClientCertificateCredential,
  ClientSecretCredential,
  ManagedIdentityCredential,
} from "@azure/identity";
import { isLoopbackHost, SETTINGS, type DefenderCredentialSettings } from "../config.js";
import { ConfigError, DefenderAuthError } from "../errors.js";
import { describeError } from "./retry.js";

/** Transport options for the identity calls (e.g. `tlsOptions: { ca }` to trust the local simulator). */
export type DefenderCredentialOptions = Omit<TokenCredentialOptions, "authorityHost">;

/** A TokenCredential that always returns a token or throws a DefenderAuthError. */
export interface DefenderCredential extends TokenCredential {
  getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken>;
}

/**
 * The credential for the Defender API, by `DEFENDER_AUTH`: a managed identity (system-assigned, or
 * the user-assigned one named by its client id); an app registration's secret or certificate; or
 * workload identity federation, where the app registration trusts the managed identity and the
 * assertion is a managed identity token for the token-exchange audience. Its getToken throws a
 * DefenderAuthError naming the mode, tenant and client (never a secret) and what to check.
 */
export function createDefenderCredential(settings: DefenderCredentialSettings, options: DefenderCredentialOptions = {}): DefenderCredential {
  const inner = build(settings, options);
  return {
    async getToken(scopes: string | string[], getTokenOptions?: GetTokenOptions): Promise<AccessToken> {
      let token: AccessToken | null;
      try {
        token = await inner.getToken(scopes, getTokenOptions);
      } catch (error) {
        let problem = describeError(error);
        // MSAL's words when it could not read the authority's metadata (unreachable, untrusted TLS, wrong host).
        if (problem.includes("endpoints_resolution_error")) {
          problem += ` (the OpenID configuration at ${settings.authorityHost}/${settings.tenantId}/v2.0/.well-known/openid-configuration could not be read: check ${SETTINGS.defenderAuthorityHost}, ${SETTINGS.defenderTenantId} and the network path)`;
        }
        throw authError(settings, scopes, problem, error);
      }
      if (!token) throw authError(settings, scopes, "the identity returned no token");
      return token;
    },
  };
}

function build(s: DefenderCredentialSettings, options: DefenderCredentialOptions): TokenCredential {
  const entra = {
    ...options,
    authorityHost: s.authorityHost,
    // A loopback authority (the simulator) is not in Microsoft's instance metadata.
    disableInstanceDiscovery: isLoopbackHost(new URL(s.authorityHost).hostname),
  };
  const managedIdentity = () =>
    s.managedIdentityClientId ? new ManagedIdentityCredential({ ...options, clientId: s.managedIdentityClientId }) : new ManagedIdentityCredential(options);
  switch (s.auth) {
    case "managedIdentity":
      return managedIdentity();
    case "secret":
      return new ClientSecretCredential(need(s, "tenantId"), need(s, "clientId"), need(s, "clientSecret"), entra);
    case "certificate":
      return s.clientCertificate
        ? new ClientCertificateCredential(need(s, "tenantId"), need(s, "clientId"), { certificate: s.clientCertificate }, entra)
        : new ClientCertificateCredential(need(s, "tenantId"), need(s, "clientId"), { certificatePath: need(s, "clientCertificatePath") }, entra);
    case "workloadIdentity": {
      const mi = managedIdentity();
      const audience = exchangeAudience(s.authorityHost);
      return new ClientAssertionCredential(need(s, "tenantId"), need(s, "clientId"), async () => (await mi.getToken(audience)).token, entra);
    }
  }
}

/** Entra's token-exchange audience differs in the US Government cloud (login.microsoftonline.us). */
function exchangeAudience(authorityHost: string): string {
  return new URL(authorityHost).hostname.endsWith(".us")
    ? "api://AzureADTokenExchangeUSGov/.default"
    : "api://AzureADTokenExchange/.default";
}

const SETTING_OF = {
  tenantId: SETTINGS.defenderTenantId,
  clientId: SETTINGS.defenderClientId,
  clientSecret: SETTINGS.defenderClientSecret,
  clientCertificatePath: SETTINGS.defenderClientCertificatePath,
} as const;

function need(s: DefenderCredentialSettings, key: keyof typeof SETTING_OF): string {
  const value = s[key];
  if (value) return value;
  throw new ConfigError([{ setting: SETTING_OF[key], problem: `is missing (needed for ${SETTINGS.defenderAuth}=${s.auth})`, expected: "a value" }]);
}

function whatToCheck(s: DefenderCredentialSettings): string {
  switch (s.auth) {
    case "managedIdentity":
      return (
        "Check that the Function App has the managed identity enabled (the user-assigned one must be attached when " +
        `${SETTINGS.defenderManagedIdentityClientId} is set) and that it has been granted the WindowsDefenderATP app roles.`
      );
    case "workloadIdentity":
      return (
        "Check that the managed identity works and that the app registration has a federated credential for it " +
        `(issuer ${s.authorityHost}/${s.tenantId}/v2.0, subject = the managed identity's object id, audience ${exchangeAudience(s.authorityHost).replace("/.default", "")}).`
      );
    case "certificate":
      return "Check that the certificate's public part is uploaded to the app registration and has not expired.";
    case "secret":
      return `Check that ${SETTINGS.defenderClientSecret} holds the secret's value (not its id) and that it has not expired.`;
  }
}

function authError(s: DefenderCredentialSettings, scopes: string | string[], problem: string, cause?: unknown): DefenderAuthError {
  const who =
    s.auth === "managedIdentity"
      ? `the ${s.managedIdentityClientId ? `user-assigned managed identity ${s.managedIdentityClientId}` : "system-assigned managed identity"}`
      : `tenant ${s.tenantId}, client id ${s.clientId}, authority ${s.authorityHost}`;
  return new DefenderAuthError(
    `Could not get a token for ${[scopes].flat().join(" ")} with ${SETTINGS.defenderAuth}=${s.auth} (${who}): ${problem}. ${whatToCheck(s)}`,
    { cause },
  );
}
