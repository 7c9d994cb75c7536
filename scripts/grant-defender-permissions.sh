#!/usr/bin/env bash
# Grants the Microsoft Defender for Endpoint API application permissions (app roles of the
# WindowsDefenderATP service principal) to the app's identity, through Microsoft Graph.
#
# This is an Entra ID app-role assignment (admin consent), not Azure RBAC: it needs a directory role
# that can grant application permissions (Privileged Role Administrator, Cloud Application
# Administrator, Application Administrator, or Global Administrator). Idempotent: roles already
# granted are skipped. See docs/deploy.md.
set -euo pipefail

readonly DEFENDER_APP_ID="fc780465-2017-40d4-a0c5-307022471b92" # WindowsDefenderATP
readonly ROLE_FILES="Vulnerability.Read.All" # InfoGatheringExport (EXPORT_METHOD=files)
readonly ROLE_JSON="Machine.Read.All"        # deviceavinfo (EXPORT_METHOD=json)

usage() {
  cat <<EOF
Usage: $(basename "$0") PRINCIPAL [--method files|json|auto] [--graph-url URL] [--dry-run]

PRINCIPAL, one of:
  --principal-id ID                      object id of the managed identity's service principal
                                         (azd output AZURE_MANAGED_IDENTITY_PRINCIPAL_ID)
  --identity-name NAME --resource-group RG
                                         a user-assigned managed identity by name
  --app-id CLIENT_ID                     an app registration (DEFENDER_AUTH=workloadIdentity,
                                         certificate or secret): its service principal

Options:
  --method files|json|auto   files: ${ROLE_FILES}; json: ${ROLE_JSON}; auto: both (default: auto)
  --graph-url URL            Microsoft Graph endpoint (default: the az CLI cloud's, e.g.
                             https://graph.microsoft.com; DoD: https://dod-graph.microsoft.us)
  --dry-run                  show what would be granted; change nothing
  -h, --help                 this text

Needs: az CLI signed in (az login) to the tenant of the identity and of Defender for Endpoint.
EOF
}

fail() {
  local code=$1
  shift
  echo "error: $*" >&2
  exit "$code"
}

principal_id=""
identity_name=""
resource_group=""
app_id=""
method="auto"
graph_url=""
dry_run=false

while [[ $# -gt 0 ]]; do
  case "$1" in
    --principal-id) principal_id="${2:-}"; shift 2 ;;
    --identity-name) identity_name="${2:-}"; shift 2 ;;
    --resource-group|-g) resource_group="${2:-}"; shift 2 ;;
    --app-id) app_id="${2:-}"; shift 2 ;;
    --method) method="${2:-}"; shift 2 ;;
    --graph-url) graph_url="${2:-}"; shift 2 ;;
    --dry-run) dry_run=true; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; fail 1 "unknown argument: $1" ;;
  esac
done

guid_re='^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
chosen=0
[[ -n "$principal_id" ]] && chosen=$((chosen + 1))
[[ -n "$identity_name" || -n "$resource_group" ]] && chosen=$((chosen + 1))
[[ -n "$app_id" ]] && chosen=$((chosen + 1))
if [[ $chosen -ne 1 ]]; then
  usage >&2
  fail 1 "give exactly one principal: --principal-id, --identity-name with --resource-group, or --app-id"
fi
if [[ -n "$identity_name" && -z "$resource_group" ]] || [[ -z "$identity_name" && -n "$resource_group" ]]; then
  fail 1 "--identity-name and --resource-group go together"
fi
if [[ -n "$principal_id" && ! "$principal_id" =~ $guid_re ]]; then
  fail 1 "--principal-id is \"$principal_id\": expected the object id (a GUID) of a service principal"
fi
if [[ -n "$app_id" && ! "$app_id" =~ $guid_re ]]; then
  fail 1 "--app-id is \"$app_id\": expected the application (client) id, a GUID"
fi
case "$method" in
  files) roles=("$ROLE_FILES") ;;
  json) roles=("$ROLE_JSON") ;;
  auto) roles=("$ROLE_FILES" "$ROLE_JSON") ;;
  *) fail 1 "--method is \"$method\": expected files, json or auto" ;;
esac

command -v az >/dev/null 2>&1 || fail 2 "the Azure CLI (az) is not on PATH: https://learn.microsoft.com/cli/azure/install-azure-cli"
az account show --query tenantId -o tsv >/dev/null 2>&1 || fail 2 "the Azure CLI is not signed in: run az login (add --tenant <tenant> for the Defender tenant)"

if [[ -z "$graph_url" ]]; then
  graph_url="$(az cloud show --query endpoints.microsoftGraphResourceId -o tsv 2>/dev/null || true)"
  graph_url="${graph_url:-https://graph.microsoft.com}"
fi
graph="${graph_url%/}/v1.0"

errfile="$(mktemp)"
trap 'rm -f "$errfile"' EXIT

# az rest with the error text kept for the message; prints the (tsv) result.
graph_get() {
  local uri=$1 query=$2
  if ! az rest --method get --uri "$uri" --query "$query" -o tsv 2>"$errfile"; then
    return 1
  fi
}

# 1. The principal that receives the roles.
if [[ -n "$identity_name" ]]; then
  principal_id="$(az identity show --name "$identity_name" --resource-group "$resource_group" --query principalId -o tsv 2>"$errfile")" ||
    fail 3 "managed identity \"$identity_name\" not found in resource group \"$resource_group\": $(head -c 400 "$errfile")"
fi
if [[ -n "$app_id" ]]; then
  principal_id="$(graph_get "$graph/servicePrincipals?\$filter=appId%20eq%20'$app_id'&\$select=id" "value[0].id")" ||
    fail 3 "looking up the service principal of app $app_id failed: $(head -c 400 "$errfile")"
  [[ -n "$principal_id" ]] || fail 3 "app $app_id has no service principal in this tenant: create it with az ad sp create --id $app_id"
fi
principal_name="$(graph_get "$graph/servicePrincipals/$principal_id?\$select=displayName" "displayName")" ||
  fail 3 "service principal $principal_id not found in this tenant (a managed identity's principal id, not its client id?): $(head -c 400 "$errfile")"

# 2. WindowsDefenderATP and its application roles.
resource_id="$(graph_get "$graph/servicePrincipals?\$filter=appId%20eq%20'$DEFENDER_APP_ID'&\$select=id" "value[0].id")" ||
  fail 3 "looking up the WindowsDefenderATP service principal failed: $(head -c 400 "$errfile")"
[[ -n "$resource_id" ]] || fail 3 "WindowsDefenderATP (appId $DEFENDER_APP_ID) has no service principal in this tenant: is Microsoft Defender for Endpoint onboarded, and is az signed in to that tenant?"

assigned="$(graph_get "$graph/servicePrincipals/$principal_id/appRoleAssignments" "value[?resourceId=='$resource_id'].appRoleId")" ||
  fail 3 "reading the app-role assignments of $principal_name failed: $(head -c 400 "$errfile")"

echo "Principal: $principal_name ($principal_id)"
echo "API:       WindowsDefenderATP ($resource_id)"

missing=0
for role in "${roles[@]}"; do
  role_id="$(graph_get "$graph/servicePrincipals/$resource_id?\$select=appRoles" "appRoles[?value=='$role' && contains(allowedMemberTypes, 'Application')].id | [0]")" ||
    fail 3 "reading the app roles of WindowsDefenderATP failed: $(head -c 400 "$errfile")"
  [[ -n "$role_id" ]] || fail 3 "WindowsDefenderATP has no application role \"$role\""

  if grep -qixF "$role_id" <<<"$assigned"; then
    echo "  already granted: $role"
  elif $dry_run; then
    echo "  would grant:     $role"
    missing=$((missing + 1))
  else
    body="{\"principalId\":\"$principal_id\",\"resourceId\":\"$resource_id\",\"appRoleId\":\"$role_id\"}"
    if ! az rest --method post --uri "$graph/servicePrincipals/$principal_id/appRoleAssignments" \
      --headers "Content-Type=application/json" --body "$body" -o none 2>"$errfile"; then
      if grep -qi "forbidden\|authorization_requestdenied\|insufficient privileges" "$errfile"; then
        fail 4 "not allowed to grant $role: an Entra administrator (Privileged Role Administrator, Cloud Application Administrator, Application Administrator or Global Administrator) must run this script. $(head -c 400 "$errfile")"
      fi
      fail 4 "granting $role failed: $(head -c 400 "$errfile")"
    fi
    echo "  granted:         $role"
  fi
done

if $dry_run && [[ $missing -gt 0 ]]; then
  echo "Dry run: $missing role(s) to grant. An Entra administrator runs this script without --dry-run."
fi
