// The Functions host storage account (AzureWebJobsStorage): runtime blobs (leases, keys, timer
// schedule), the Flex Consumption deployment package, the app's queues, and the runtime's diagnostic
// events table. Identity access only: shared keys off.
param name string
param location string = resourceGroup().location
param tags object = {}
param deploymentContainerName string
param queueNames array
param managedIdentityPrincipalId string
@description('Deploying user for local development against Azure; empty for none.')
param userPrincipalId string = ''
@allowed(['User', 'ServicePrincipal'])
param userPrincipalType string = 'User'
@description('Role definition ids, from the one map in main.bicep.')
param roleIds object

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
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

  resource blobServices 'blobServices' = {
    name: 'default'

    resource deploymentContainer 'containers' = {
      name: deploymentContainerName
      properties: {
        publicAccess: 'None'
      }
    }
  }

  resource queueServices 'queueServices' = {
    name: 'default'

    resource queues 'queues' = [for queueName in queueNames: {
      name: queueName
    }]
  }
}

// The runtime needs Blob Data Owner on its host storage (the Functions documentation's minimum for an
// identity-based AzureWebJobsStorage), queues for the triggers and the app's own messages, and tables
// for the runtime's diagnostic events.
var managedIdentityRoles = [
  roleIds.storageBlobDataOwner
  roleIds.storageQueueDataContributor
  roleIds.storageTableDataContributor
]
// A developer inspects and replays queue messages (poison queues); no blob or table access needed.
var userRoles = [
  roleIds.storageQueueDataContributor
]

resource managedIdentityRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for roleId in managedIdentityRoles: {
  name: guid(account.id, managedIdentityPrincipalId, roleId)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
    principalId: managedIdentityPrincipalId
    principalType: 'ServicePrincipal'
  }
}]

resource userRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for roleId in userRoles: if (!empty(userPrincipalId)) {
  name: guid(account.id, userPrincipalId, roleId)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
    principalId: userPrincipalId
    principalType: userPrincipalType
  }
}]

output name string = account.name
output blobServiceUri string = account.properties.primaryEndpoints.blob
output queueServiceUri string = account.properties.primaryEndpoints.queue
output tableServiceUri string = account.properties.primaryEndpoints.table
