<#
.SYNOPSIS
Grants the Microsoft Defender for Endpoint API application permissions (app roles of the
WindowsDefenderATP service principal) to the app's identity, through Microsoft Graph (az rest).

.DESCRIPTION
An Entra ID app-role assignment (admin consent), not Azure RBAC: run it as a Privileged Role
Administrator, Cloud Application Administrator, Application Administrator or Global Administrator.
Idempotent: roles already granted are skipped. Same behaviour as grant-defender-permissions.sh.
See docs/deploy.md.

.EXAMPLE
./scripts/grant-defender-permissions.ps1 -PrincipalId <AZURE_MANAGED_IDENTITY_PRINCIPAL_ID> -DryRun
./scripts/grant-defender-permissions.ps1 -IdentityName id-abc -ResourceGroup rg-defender -Method files
./scripts/grant-defender-permissions.ps1 -AppId <DEFENDER_CLIENT_ID>
#>
[CmdletBinding(DefaultParameterSetName = 'PrincipalId')]
param(
    [Parameter(Mandatory, ParameterSetName = 'PrincipalId')][string]$PrincipalId,
    [Parameter(Mandatory, ParameterSetName = 'Identity')][string]$IdentityName,
    [Parameter(Mandatory, ParameterSetName = 'Identity')][string]$ResourceGroup,
    [Parameter(Mandatory, ParameterSetName = 'AppId')][string]$AppId,
    [ValidateSet('files', 'json', 'auto')][string]$Method = 'auto',
    [string]$GraphUrl = '',
    [switch]$DryRun
)

# NOTE: 'Continue', not 'Stop': Windows PowerShell 5.1 turns a native command's stderr into a
# terminating error under 'Stop'. Every az call's exit code is checked instead.
$ErrorActionPreference = 'Continue'
$DefenderAppId = 'fc780465-2017-40d4-a0c5-307022471b92' # WindowsDefenderATP
$Roles = switch ($Method) {
    'files' { @('Vulnerability.Read.All') }  # InfoGatheringExport
    'json' { @('Machine.Read.All') }         # deviceavinfo
    'auto' { @('Vulnerability.Read.All', 'Machine.Read.All') }
}
$GuidPattern = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'

function Fail([int]$Code, [string]$Message) {
    [Console]::Error.WriteLine("error: $Message")
    exit $Code
}

# az with its error text kept for the message; returns the tsv result as one string.
function Invoke-Az([string[]]$Arguments, [string]$What, [int]$Code = 3) {
    $output = & az @Arguments 2>&1
    if ($LASTEXITCODE -ne 0) {
        $text = ($output | Out-String).Trim()
        if ($text.Length -gt 400) { $text = $text.Substring(0, 400) }
        Fail $Code "$What failed: $text"
    }
    return (($output | Where-Object { $_ -isnot [System.Management.Automation.ErrorRecord] }) -join "`n").Trim()
}

if ($PrincipalId -and $PrincipalId -notmatch $GuidPattern) { Fail 1 "-PrincipalId is `"$PrincipalId`": expected the object id (a GUID) of a service principal" }
if ($AppId -and $AppId -notmatch $GuidPattern) { Fail 1 "-AppId is `"$AppId`": expected the application (client) id, a GUID" }
if (-not (Get-Command az -ErrorAction SilentlyContinue)) { Fail 2 'the Azure CLI (az) is not on PATH: https://learn.microsoft.com/cli/azure/install-azure-cli' }
& az account show --query tenantId -o tsv *> $null
if ($LASTEXITCODE -ne 0) { Fail 2 'the Azure CLI is not signed in: run az login (add --tenant <tenant> for the Defender tenant)' }

if (-not $GraphUrl) {
    $GraphUrl = (& az cloud show --query endpoints.microsoftGraphResourceId -o tsv 2>$null)
    if (-not $GraphUrl) { $GraphUrl = 'https://graph.microsoft.com' }
}
$Graph = $GraphUrl.TrimEnd('/') + '/v1.0'

# 1. The principal that receives the roles.
if ($IdentityName) {
    $PrincipalId = Invoke-Az @('identity', 'show', '--name', $IdentityName, '--resource-group', $ResourceGroup, '--query', 'principalId', '-o', 'tsv') "finding managed identity `"$IdentityName`" in `"$ResourceGroup`""
}
if ($AppId) {
    $PrincipalId = Invoke-Az @('rest', '--method', 'get', '--uri', "$Graph/servicePrincipals?`$filter=appId%20eq%20'$AppId'&`$select=id", '--query', 'value[0].id', '-o', 'tsv') "looking up the service principal of app $AppId"
    if (-not $PrincipalId) { Fail 3 "app $AppId has no service principal in this tenant: create it with az ad sp create --id $AppId" }
}
$PrincipalName = Invoke-Az @('rest', '--method', 'get', '--uri', "$Graph/servicePrincipals/$($PrincipalId)?`$select=displayName", '--query', 'displayName', '-o', 'tsv') "finding service principal $PrincipalId (a managed identity's principal id, not its client id?)"

# 2. WindowsDefenderATP and its application roles.
$ResourceId = Invoke-Az @('rest', '--method', 'get', '--uri', "$Graph/servicePrincipals?`$filter=appId%20eq%20'$DefenderAppId'&`$select=id", '--query', 'value[0].id', '-o', 'tsv') 'looking up the WindowsDefenderATP service principal'
if (-not $ResourceId) { Fail 3 "WindowsDefenderATP (appId $DefenderAppId) has no service principal in this tenant: is Microsoft Defender for Endpoint onboarded, and is az signed in to that tenant?" }
$Assigned = (Invoke-Az @('rest', '--method', 'get', '--uri', "$Graph/servicePrincipals/$PrincipalId/appRoleAssignments", '--query', "value[?resourceId=='$ResourceId'].appRoleId", '-o', 'tsv') "reading the app-role assignments of $PrincipalName") -split "`n" | ForEach-Object { $_.Trim().ToLowerInvariant() }

Write-Output "Principal: $PrincipalName ($PrincipalId)"
Write-Output "API:       WindowsDefenderATP ($ResourceId)"

$Missing = 0
foreach ($Role in $Roles) {
    $RoleId = Invoke-Az @('rest', '--method', 'get', '--uri', "$Graph/servicePrincipals/$($ResourceId)?`$select=appRoles", '--query', "appRoles[?value=='$Role' && contains(allowedMemberTypes, 'Application')].id | [0]", '-o', 'tsv') 'reading the app roles of WindowsDefenderATP'
    if (-not $RoleId) { Fail 3 "WindowsDefenderATP has no application role `"$Role`"" }

    if ($Assigned -contains $RoleId.ToLowerInvariant()) {
        Write-Output "  already granted: $Role"
    }
    elseif ($DryRun) {
        Write-Output "  would grant:     $Role"
        $Missing++
    }
    else {
        $Body = @{ principalId = $PrincipalId; resourceId = $ResourceId; appRoleId = $RoleId } | ConvertTo-Json -Compress
        $BodyFile = New-TemporaryFile
        try {
            Set-Content -Path $BodyFile -Value $Body -NoNewline
            $output = & az rest --method post --uri "$Graph/servicePrincipals/$PrincipalId/appRoleAssignments" --headers 'Content-Type=application/json' --body "@$BodyFile" -o none 2>&1
            if ($LASTEXITCODE -ne 0) {
                $text = ($output | Out-String).Trim()
                if ($text -match 'forbidden|authorization_requestdenied|insufficient privileges') {
                    Fail 4 "not allowed to grant $($Role): an Entra administrator (Privileged Role Administrator, Cloud Application Administrator, Application Administrator or Global Administrator) must run this script. $text"
                }
                Fail 4 "granting $Role failed: $text"
            }
        }
        finally {
            Remove-Item $BodyFile -ErrorAction SilentlyContinue
        }
        Write-Output "  granted:         $Role"
    }
}

if ($DryRun -and $Missing -gt 0) {
    Write-Output "Dry run: $Missing role(s) to grant. An Entra administrator runs this script without -DryRun."
}
