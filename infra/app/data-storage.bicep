// A new customer data storage account: hierarchical namespace on (Data Lake Storage, for Power BI and
// Fabric), identity access only, and a lifecycle policy for the raw snapshots. Not used with an
// existing account: a lifecycle policy is one resource per account and would replace the customer's.
param name string
param location string = resourceGroup().location
param tags object = {}
@allowed(['Standard_LRS', 'Standard_ZRS', 'Standard_GRS', 'Standard_GZRS', 'Standard_RAGRS', 'Standard_RAGZRS'])
param sku string = 'Standard_LRS'
param containerName string
@minValue(1)
param rawCoolAfterDays int = 30
@minValue(2)
param rawDeleteAfterDays int = 400

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: sku
  }
  properties: {
    accessTier: 'Hot'
    isHnsEnabled: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    dnsEndpointType: 'Standard'
    minimumTlsVersion: 'TLS1_2'
    publicNetworkAccess: 'Enabled'
    supportsHttpsTrafficOnly: true
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }

  // A deleted or overwritten snapshot can be recovered for a week.
  resource blobServices 'blobServices' = {
    name: 'default'
    properties: {
      deleteRetentionPolicy: {
        enabled: true
        days: 7
      }
    }
  }

  // Raw snapshots (and their manifests) are read by the summary on the day they arrive, rarely after.
  resource lifecycle 'managementPolicies' = {
    name: 'default'
    properties: {
      policy: {
        rules: [
          {
            name: 'raw-snapshots-cool-then-delete'
            enabled: true
            type: 'Lifecycle'
            definition: {
              filters: {
                blobTypes: [
                  'blockBlob'
                ]
                prefixMatch: [
                  '${containerName}/raw/'
                ]
              }
              actions: {
                baseBlob: {
                  tierToCool: {
                    daysAfterModificationGreaterThan: rawCoolAfterDays
                  }
                  delete: {
                    daysAfterModificationGreaterThan: rawDeleteAfterDays
                  }
                }
              }
            }
          }
        ]
      }
    }
  }
}

output name string = account.name
