// Defender antivirus-health export: a Function App on Flex Consumption that copies Microsoft Defender
// for Endpoint's antivirus-health export into the customer's storage and builds a daily summary table.
// Resource-group scoped: `azd up` (with AZURE_RESOURCE_GROUP) or `az deployment group create`.
targetScope = 'resourceGroup'

// ---------------------------------------------------------------------------------------------
// Environment
// ---------------------------------------------------------------------------------------------

@minLength(1)
@maxLength(64)
@description('Name of the environment; feeds the unique token in every resource name.')
param environmentName string

@minLength(1)
@description('Region for all resources. Flex Consumption must be available there.')
@metadata({ azd: { type: 'location' } })
param location string = resourceGroup().location

@description('Object id of the deploying user (azd sets AZURE_PRINCIPAL_ID). Used only when allowUserIdentityPrincipal is true.')
param principalId string = ''

@allowed(['User', 'ServicePrincipal'])
@description('Kind of principal principalId is.')
param principalType string = 'User'

@description('Give principalId data access (data container and tables, host queues, Key Vault secrets) for local development against Azure.')
param allowUserIdentityPrincipal bool = false

// ---------------------------------------------------------------------------------------------
// Function App (Flex Consumption)
// ---------------------------------------------------------------------------------------------

@allowed(['20', '22'])
@description('Node.js version of the Functions runtime.')
param nodeVersion string = '20'

@minValue(1)
@maxValue(1000)
@description('Upper bound of Flex Consumption scale-out (instances).')
param maximumInstanceCount int = 40

@allowed([512, 2048, 4096])
@description('Memory per instance in MB; CPU and network scale with it.')
param instanceMemoryMB int = 2048

// ---------------------------------------------------------------------------------------------
// Customer data storage
// ---------------------------------------------------------------------------------------------

@description('Use this existing storage account for the data instead of creating one. Leave empty to create a new one (hierarchical namespace on).')
param existingDataStorageAccountName string = ''

@description('Resource group of existingDataStorageAccountName (same subscription). Empty: this resource group.')
param existingDataStorageAccountResourceGroup string = ''

@allowed(['Standard_LRS', 'Standard_ZRS', 'Standard_GRS', 'Standard_GZRS', 'Standard_RAGRS', 'Standard_RAGZRS'])
@description('Redundancy of a new data storage account.')
param dataStorageSku string = 'Standard_LRS'

@description('Blob container for raw snapshots, manifests and quarantine (app setting DATA_CONTAINER).')
param dataContainerName string = 'defender-avhealth'

@description('Table of runs and files (app setting RUNS_TABLE).')
param runsTableName string = 'ExportRuns'

@description('Daily summary table read by Power BI (app setting SUMMARY_TABLE).')
param summaryTableName string = 'DeviceHealthDaily'

@minValue(1)
@description('Raw snapshots move to the Cool tier this many days after they were written (new data account only).')
param rawCoolAfterDays int = 30

@minValue(2)
@description('Raw snapshots are deleted this many days after they were written (new data account only). Must be larger than rawCoolAfterDays.')
param rawDeleteAfterDays int = 400

// ---------------------------------------------------------------------------------------------
// Defender for Endpoint API
// ---------------------------------------------------------------------------------------------

@allowed(['public', 'gcc', 'gcchigh', 'dod'])
@description('Defender cloud: commercial (public), US Government GCC, GCC High or DoD (app setting DEFENDER_CLOUD).')
param defenderCloud string = 'public'

@allowed(['', 'us', 'eu', 'uk', 'au', 'swa', 'ina'])
@description('Regional API host for the commercial cloud, e.g. eu -> https://eu.api.security.microsoft.com. Empty: the global host. Ignored for US Government clouds.')
param defenderApiRegion string = ''

@description('Overrides the API base URL derived from defenderCloud and defenderApiRegion. Normally empty.')
param defenderApiBaseUrl string = ''

@allowed(['managedIdentity', 'workloadIdentity', 'certificate', 'secret'])
@description('How the app gets its Defender API token (app setting DEFENDER_AUTH). certificate and secret create a Key Vault.')
param defenderAuth string = 'managedIdentity'

@description('Tenant of the app registration (workloadIdentity, certificate, secret). Empty: this subscription\'s tenant.')
param defenderTenantId string = ''

@description('Application (client) id of the app registration (workloadIdentity, certificate, secret).')
param defenderClientId string = ''

@description('Name of the Key Vault secret holding the client secret or the PEM certificate (certificate, secret). Empty: defender-client-secret or defender-client-certificate. Put the value in the vault yourself, never in a parameter.')
param keyVaultSecretName string = ''

@allowed(['files', 'json', 'auto'])
@description('Export method (app setting EXPORT_METHOD): files (InfoGatheringExport, Vulnerability.Read.All), json (deviceavinfo, Machine.Read.All), auto.')
param exportMethod string = 'files'

@description('NCRONTAB schedule of the daily export, six fields, UTC (app setting EXPORT_SCHEDULE).')
param exportSchedule string = '0 30 3 * * *'

// ---------------------------------------------------------------------------------------------
// Tunables: one parameter per app setting, with shared/config.ts's default and range (a test
// compares them). The app settings are replaced as a whole on each deployment: change them here
// (main.parameters.json / azd env), not in the portal.
// ---------------------------------------------------------------------------------------------

@minValue(1)
@maxValue(3600)
@description('Total seconds one Defender API call may spend retrying (app setting DEFENDER_RETRY_BUDGET_SECONDS).')
param defenderRetryBudgetSeconds int = 300

@minValue(1)
@maxValue(24)
@description('sasValidHours asked of the export API (app setting EXPORT_SAS_VALID_HOURS).')
param exportSasValidHours int = 6

@minValue(0)
@maxValue(10)
@description('Export re-calls per run to refresh expired SAS URLs (app setting EXPORT_URL_REFRESH_BUDGET).')
param exportUrlRefreshBudget int = 2

@description('OData $filter passed to deviceavinfo by the JSON method (app setting EXPORT_JSON_FILTER). Empty: no filter.')
param exportJsonFilter string = ''

@minValue(1)
@maxValue(10000)
@description('$top of each deviceavinfo page for the JSON method (app setting EXPORT_JSON_PAGE_SIZE).')
param exportJsonPageSize int = 10000

@minValue(1)
@maxValue(268435456)
@description('Files above this size are copied as parallel Put Block From URL ranges; at most 256 MiB, Copy Blob From URL\'s limit (app setting COPY_BLOCK_THRESHOLD_BYTES).')
param copyBlockThresholdBytes int = 268435456

@minValue(1)
@maxValue(4194304000)
@description('Block size of a large copy (app setting COPY_BLOCK_SIZE_BYTES).')
param copyBlockSizeBytes int = 104857600

@minValue(1)
@maxValue(64)
@description('Blocks copied at once in a large copy (app setting COPY_CONCURRENCY).')
param copyConcurrency int = 8

@minValue(0)
@maxValue(64)
@description('Files the summary reads at once (app setting SUMMARY_PARALLELISM). 0: the instance size\'s cores (1 for 512 and 2048 MB, 2 for 4096 MB).')
param summaryParallelism int = 0

@minValue(0)
@maxValue(10000)
@description('Malformed lines kept as a sample per run (app setting QUARANTINE_SAMPLE_LINES).')
param quarantineSampleLines int = 100

// ---------------------------------------------------------------------------------------------
// Monitoring
// ---------------------------------------------------------------------------------------------

@minValue(30)
@maxValue(730)
@description('Log Analytics retention in days.')
param logRetentionInDays int = 30

@description('Log Analytics daily ingestion cap in GB; -1 for none.')
param logDailyQuotaGb int = -1

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

var abbrs = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }

var functionAppName = '${abbrs.webSitesFunctions}${resourceToken}'
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(toLower(uniqueString(functionAppName, resourceToken)), 7)}'
var hostStorageAccountName = '${abbrs.storageStorageAccounts}${resourceToken}'
var useExistingDataAccount = !empty(existingDataStorageAccountName)
var dataStorageAccountName = useExistingDataAccount ? existingDataStorageAccountName : '${abbrs.storageStorageAccounts}data${resourceToken}'
var dataResourceGroupName = useExistingDataAccount && !empty(existingDataStorageAccountResourceGroup) ? existingDataStorageAccountResourceGroup : resourceGroup().name
var useKeyVault = defenderAuth == 'certificate' || defenderAuth == 'secret'
var keyVaultName = '${abbrs.keyVaultVaults}${resourceToken}'

// Queue names are constants of the code (shared/config.ts QUEUES) and the runtime's poison queues.
var hostQueueNames = ['export-files', 'export-files-poison', 'export-summaries', 'export-summaries-poison']

// ---------------------------------------------------------------------------------------------
// Role definitions: the only roles this deployment assigns (test/infra checks the list).
// ---------------------------------------------------------------------------------------------

var roleIds = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner (host storage only: Functions runtime, Flex deployment package)
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe' // Storage Blob Data Contributor (data container)
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // Storage Queue Data Contributor (host storage queues)
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Storage Table Data Contributor (data tables; host diagnostic events)
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb' // Monitoring Metrics Publisher (Application Insights, Entra ingestion)
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6' // Key Vault Secrets User (Key Vault references)
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7' // Key Vault Secrets Officer (deploying user only, to store the credential)
}

// ---------------------------------------------------------------------------------------------
// Defender settings derived from the parameters
// ---------------------------------------------------------------------------------------------

// Same values as CLOUDS[cloud].apiBaseUrl in shared/config.ts (a test compares them).
var defenderApiBaseUrls = {
  public: 'https://api.security.microsoft.com'
  gcc: 'https://api-gcc.securitycenter.microsoft.us'
  gcchigh: 'https://api-gov.securitycenter.microsoft.us'
  dod: 'https://api-gov.securitycenter.microsoft.us'
}
// Same values as CLOUDS[cloud].authorityHost and .scope in shared/config.ts (a test compares them).
var defenderAuthorityHosts = {
  public: 'https://login.microsoftonline.com'
  gcc: 'https://login.microsoftonline.com'
  gcchigh: 'https://login.microsoftonline.us'
  dod: 'https://login.microsoftonline.us'
}
var defenderScopes = {
  public: 'https://api.securitycenter.microsoft.com/.default'
  gcc: 'https://api-gcc.securitycenter.microsoft.us/.default'
  gcchigh: 'https://api-gov.securitycenter.microsoft.us/.default'
  dod: 'https://api-gov.securitycenter.microsoft.us/.default'
}
var regionalApiBaseUrl = 'https://${defenderApiRegion}.api.security.microsoft.com'
var derivedDefenderApiBaseUrl = defenderCloud == 'public' && !empty(defenderApiRegion) ? regionalApiBaseUrl : defenderApiBaseUrls[defenderCloud]
var resolvedDefenderApiBaseUrl = !empty(defenderApiBaseUrl) ? defenderApiBaseUrl : derivedDefenderApiBaseUrl

var defaultCredentialSecretName = defenderAuth == 'certificate' ? 'defender-client-certificate' : 'defender-client-secret'
var credentialSecretName = !empty(keyVaultSecretName) ? keyVaultSecretName : defaultCredentialSecretName
var keyVaultUri = 'https://${keyVaultName}${environment().suffixes.keyvaultDns}/'
// A Key Vault reference, resolved by the platform with the user-assigned identity; never the value.
var defenderCredentialReference = useKeyVault ? '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${credentialSecretName}/)' : ''

// Flex Consumption's documented cores per instance size (512 MB has a quarter core: one thread).
// NOTE: the code's default, os.availableParallelism(), may count CPUs the instance's quota does not give it.
var instanceCores = {
  '512': 1
  '2048': 1
  '4096': 2
}
var resolvedSummaryParallelism = summaryParallelism > 0 ? summaryParallelism : instanceCores[string(instanceMemoryMB)]

// ---------------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------------

// The app's one identity: host storage, data storage, Application Insights, Key Vault, Defender API.
resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${abbrs.managedIdentityUserAssignedIdentities}${resourceToken}'
  location: location
  tags: tags
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
    retentionInDays: logRetentionInDays
    dailyQuotaGb: logDailyQuotaGb
    managedIdentityPrincipalId: identity.properties.principalId
    roleIds: roleIds
  }
}

module hostStorage 'app/host-storage.bicep' = {
  name: 'hostStorage'
  params: {
    name: hostStorageAccountName
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    queueNames: hostQueueNames
    managedIdentityPrincipalId: identity.properties.principalId
    userPrincipalId: allowUserIdentityPrincipal ? principalId : ''
    userPrincipalType: principalType
    roleIds: roleIds
  }
}

module dataStorage 'app/data-storage.bicep' = if (!useExistingDataAccount) {
  name: 'dataStorage'
  params: {
    name: dataStorageAccountName
    location: location
    tags: tags
    sku: dataStorageSku
    containerName: dataContainerName
    rawCoolAfterDays: rawCoolAfterDays
    rawDeleteAfterDays: rawDeleteAfterDays
  }
}

// Container and role assignments, in the data account's resource group (new or existing account).
module dataAccess 'app/data-access.bicep' = {
  name: 'dataAccess'
  scope: resourceGroup(dataResourceGroupName)
  dependsOn: [dataStorage]
  params: {
    accountName: dataStorageAccountName
    containerName: dataContainerName
    managedIdentityPrincipalId: identity.properties.principalId
    userPrincipalId: allowUserIdentityPrincipal ? principalId : ''
    userPrincipalType: principalType
    roleIds: roleIds
  }
}

module keyVault 'app/keyvault.bicep' = if (useKeyVault) {
  name: 'keyVault'
  params: {
    name: keyVaultName
    location: location
    tags: tags
    managedIdentityPrincipalId: identity.properties.principalId
    userPrincipalId: allowUserIdentityPrincipal ? principalId : ''
    userPrincipalType: principalType
    roleIds: roleIds
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  dependsOn: [keyVault]
  params: {
    name: functionAppName
    planName: '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    identityId: identity.id
    identityClientId: identity.properties.clientId
    nodeVersion: nodeVersion
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    hostStorageAccountName: hostStorage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    dataBlobServiceUri: dataAccess.outputs.blobServiceUri
    dataTableServiceUri: dataAccess.outputs.tableServiceUri
    dataContainerName: dataContainerName
    runsTableName: runsTableName
    summaryTableName: summaryTableName
    exportMethod: exportMethod
    exportSchedule: exportSchedule
    defenderCloud: defenderCloud
    defenderApiBaseUrl: resolvedDefenderApiBaseUrl
    defenderAuthorityHost: defenderAuthorityHosts[defenderCloud]
    defenderScope: defenderScopes[defenderCloud]
    defenderRetryBudgetSeconds: defenderRetryBudgetSeconds
    defenderAuth: defenderAuth
    defenderTenantId: empty(defenderTenantId) ? tenant().tenantId : defenderTenantId
    defenderClientId: defenderClientId
    defenderCredentialReference: defenderCredentialReference
    exportSasValidHours: exportSasValidHours
    exportUrlRefreshBudget: exportUrlRefreshBudget
    exportJsonFilter: exportJsonFilter
    exportJsonPageSize: exportJsonPageSize
    copyBlockThresholdBytes: copyBlockThresholdBytes
    copyBlockSizeBytes: copyBlockSizeBytes
    copyConcurrency: copyConcurrency
    summaryParallelism: resolvedSummaryParallelism
    quarantineSampleLines: quarantineSampleLines
  }
}

// ---------------------------------------------------------------------------------------------
// Outputs: names and endpoints only (azd stores them in .azure/<env>/.env).
// ---------------------------------------------------------------------------------------------

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = resourceGroup().name
output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_URI string = api.outputs.uri
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output AZURE_MANAGED_IDENTITY_NAME string = identity.name
output AZURE_MANAGED_IDENTITY_PRINCIPAL_ID string = identity.properties.principalId
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identity.properties.clientId
output HOST_STORAGE_ACCOUNT_NAME string = hostStorage.outputs.name
output DATA_STORAGE_ACCOUNT_NAME string = dataStorageAccountName
output DATA_STORAGE_RESOURCE_GROUP string = dataResourceGroupName
output DATA_STORAGE_BLOB_ENDPOINT string = dataAccess.outputs.blobServiceUri
output DATA_STORAGE_TABLE_ENDPOINT string = dataAccess.outputs.tableServiceUri
output DATA_CONTAINER_NAME string = dataContainerName
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output AZURE_KEY_VAULT_NAME string = useKeyVault ? keyVaultName : ''
output DEFENDER_API_BASE_URL string = resolvedDefenderApiBaseUrl
output DEFENDER_AUTH string = defenderAuth
output EXPORT_METHOD string = exportMethod
