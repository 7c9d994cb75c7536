// The Function App on Flex Consumption (FC1), Node.js, user-assigned identity, identity-based
// connections only. App settings: exactly the names shared/config.ts reads (SETTINGS) plus the
// Functions runtime's own (test/infra/bicep.test.ts checks the block between the markers).
// NOTE: the 'appsettings' resource replaces the whole set on each deployment, as in the azd
// templates: a setting changed by hand in the portal is reset by the next `azd up`.
param name string
param planName string
param location string = resourceGroup().location
param tags object = {}
param identityId string
param identityClientId string
@allowed(['20', '22'])
param nodeVersion string = '20'
param maximumInstanceCount int = 40
param instanceMemoryMB int = 2048
param hostStorageAccountName string
param deploymentContainerName string
param applicationInsightsName string
param dataBlobServiceUri string
param dataTableServiceUri string
param dataContainerName string
param runsTableName string
param summaryTableName string
param exportMethod string
param exportSchedule string
param defenderCloud string
param defenderApiBaseUrl string
param defenderAuthorityHost string
param defenderScope string
param defenderRetryBudgetSeconds int
param defenderAuth string
param defenderTenantId string
param defenderClientId string
@description('Key Vault reference (@Microsoft.KeyVault(SecretUri=...)) for DEFENDER_CLIENT_SECRET or DEFENDER_CLIENT_CERTIFICATE; empty otherwise.')
param defenderCredentialReference string = ''
param exportSasValidHours int
param exportUrlRefreshBudget int
@description('Empty: no filter (shared/config.ts reads an empty setting as unset).')
param exportJsonFilter string
param exportJsonPageSize int
param copyBlockThresholdBytes int
param copyBlockSizeBytes int
param copyConcurrency int
param summaryParallelism int
param quarantineSampleLines int

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hostStorageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// app-settings:begin
var runtimeSettings = {
  AzureWebJobsStorage__blobServiceUri: hostStorage.properties.primaryEndpoints.blob
  AzureWebJobsStorage__queueServiceUri: hostStorage.properties.primaryEndpoints.queue
  AzureWebJobsStorage__tableServiceUri: hostStorage.properties.primaryEndpoints.table
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}

var appSettings = {
  DATA_STORAGE__blobServiceUri: dataBlobServiceUri
  DATA_STORAGE__tableServiceUri: dataTableServiceUri
  DATA_STORAGE__credential: 'managedidentity'
  DATA_STORAGE__clientId: identityClientId
  DATA_CONTAINER: dataContainerName
  RUNS_TABLE: runsTableName
  SUMMARY_TABLE: summaryTableName
  EXPORT_METHOD: exportMethod
  EXPORT_SCHEDULE: exportSchedule
  DEFENDER_CLOUD: defenderCloud
  DEFENDER_API_BASE_URL: defenderApiBaseUrl
  DEFENDER_AUTHORITY_HOST: defenderAuthorityHost
  DEFENDER_SCOPE: defenderScope
  DEFENDER_RETRY_BUDGET_SECONDS: string(defenderRetryBudgetSeconds)
  DEFENDER_AUTH: defenderAuth
  DEFENDER_MANAGED_IDENTITY_CLIENT_ID: identityClientId
  EXPORT_SAS_VALID_HOURS: string(exportSasValidHours)
  EXPORT_URL_REFRESH_BUDGET: string(exportUrlRefreshBudget)
  EXPORT_JSON_FILTER: exportJsonFilter
  EXPORT_JSON_PAGE_SIZE: string(exportJsonPageSize)
  COPY_BLOCK_THRESHOLD_BYTES: string(copyBlockThresholdBytes)
  COPY_BLOCK_SIZE_BYTES: string(copyBlockSizeBytes)
  COPY_CONCURRENCY: string(copyConcurrency)
  SUMMARY_PARALLELISM: string(summaryParallelism)
  QUARANTINE_SAMPLE_LINES: string(quarantineSampleLines)
}

// An app registration (workload identity federation, certificate or secret) instead of the identity.
var appRegistrationSettings = defenderAuth == 'managedIdentity' ? {} : {
  DEFENDER_TENANT_ID: defenderTenantId
  DEFENDER_CLIENT_ID: defenderClientId
}

var secretSettings = defenderAuth == 'secret' ? {
  DEFENDER_CLIENT_SECRET: defenderCredentialReference
} : {}

var certificateSettings = defenderAuth == 'certificate' ? {
  DEFENDER_CLIENT_CERTIFICATE: defenderCredentialReference
} : {}
// app-settings:end

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references resolve with the user-assigned identity, not a system-assigned one.
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostStorage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'node'
        version: nodeVersion
      }
    }
  }

  resource settings 'config' = {
    name: 'appsettings'
    properties: union(runtimeSettings, appSettings, appRegistrationSettings, secretSettings, certificateSettings)
  }
}

output name string = functionApp.name
output uri string = 'https://${functionApp.properties.defaultHostName}'
