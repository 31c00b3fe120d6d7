// Slipway in Azure: the Function App (Premium plan: builds run longer than Consumption allows),
// its storage account, a Key Vault for service and task secrets, and a user-assigned identity
// with the roles the app needs. The Docker engines are yours: point DOCKER_HOST at one (TLS).
//
//   az deployment group create -g <rg> -f infra/main.bicep -p dockerHost=tcp://builder.internal:2376 \
//     registry=<name>.azurecr.io apiKey=<random, 32+ chars>
targetScope = 'resourceGroup'

@description('Base name for every resource (lowercase letters and digits).')
@minLength(3)
@maxLength(16)
param name string = 'slipway${uniqueString(resourceGroup().id)}'

param location string = resourceGroup().location

@description('Docker engine the workers drive, e.g. tcp://builder.internal:2376 (TLS material via DOCKER_CERT_PATH).')
param dockerHost string

@description('Registry that tags without a registry are pushed to, and .Run.Registry.')
param registry string

@description('API key clients send in x-api-key. Stored in Key Vault; the app reads it through a Key Vault reference.')
@secure()
@minLength(16)
param apiKey string

@description('Premium plan size: EP1 (1 core), EP2, EP3. Runs longer than 10 minutes need Premium or Dedicated.')
param planSku string = 'EP1'

var storageName = take(replace('${name}st', '-', ''), 24)

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${name}-id'
  location: location
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageName
  location: location
  sku: { name: 'Standard_LRS' }
  kind: 'StorageV2'
  properties: {
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    supportsHttpsTrafficOnly: true
  }
}

// Run logs and contexts expire like ACR's (30 days).
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'expire-logs-and-contexts'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: { blobTypes: [ 'blockBlob', 'appendBlob' ], prefixMatch: [ 'logs/', 'contexts/', 'outputs/' ] }
            actions: { baseBlob: { delete: { daysAfterModificationGreaterThan: 30 } } }
          }
        }
      ]
    }
  }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: '${name}-kv'
  location: location
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
  }
}

resource apiKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'slipway-api-key'
  properties: { value: apiKey }
}

@description('GitHub webhook secret (random, 20+ chars); stored in Key Vault, read by the app as a reference.')
@secure()
param githubWebhookSecret string

@description('Token registries send with push notifications; stored in Key Vault.')
@secure()
param registryEventToken string

@description('32 random bytes, base64: seals secret values at rest (python -c "import core.sealed_values as s; print(s.generate_data_key())").')
@secure()
param dataKey string

resource webhookSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'slipway-github-webhook-secret'
  properties: { value: githubWebhookSecret }
}

resource eventToken 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'slipway-registry-event-token'
  properties: { value: registryEventToken }
}

resource dataKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'slipway-data-key'
  properties: { value: dataKey }
}

// Key Vault Secrets User: read secrets (service secrets, and task files' `secrets:` by default).
resource vaultRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identity.id, '4633458b-17de-408a-b874-0445c86b69e6')
  scope: vault
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '4633458b-17de-408a-b874-0445c86b69e6')
  }
}

resource plan 'Microsoft.Web/serverfarms@2023-12-01' = {
  name: '${name}-plan'
  location: location
  sku: { name: planSku, tier: 'ElasticPremium' }
  kind: 'elastic'
  properties: { reserved: true }
}

resource app 'Microsoft.Web/sites@2023-12-01' = {
  name: '${name}-func'
  location: location
  kind: 'functionapp,linux'
  // System-assigned: what Slipway uses for Key Vault when a reference names no clientID (as ACR does);
  // user-assigned: for app-setting Key Vault references and task files that name its client id.
  identity: {
    type: 'SystemAssigned, UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identity.id
    siteConfig: {
      linuxFxVersion: 'Python|3.11'
      minTlsVersion: '1.2'
      appSettings: [
        { name: 'FUNCTIONS_EXTENSION_VERSION', value: '~4' }
        { name: 'FUNCTIONS_WORKER_RUNTIME', value: 'python' }
        { name: 'AzureWebJobsStorage', value: 'DefaultEndpointsProtocol=https;AccountName=${storage.name};AccountKey=${storage.listKeys().keys[0].value};EndpointSuffix=${environment().suffixes.storage}' }
        { name: 'SLIPWAY_API_KEY', value: '@Microsoft.KeyVault(SecretUri=${apiKeySecret.properties.secretUri})' }
        { name: 'SLIPWAY_REGISTRY', value: registry }
        { name: 'SLIPWAY_REAPER_SCHEDULE', value: '0 * * * * *' }
        { name: 'SLIPWAY_SCHEDULER_SCHEDULE', value: '0 * * * * *' }
        { name: 'SLIPWAY_REGISTRY_POLL_SCHEDULE', value: '0 */5 * * * *' }
        // Read by Slipway itself (Key Vault secret URLs), so secrets can rotate without a redeploy.
        { name: 'SLIPWAY_GITHUB_WEBHOOK_SECRET', value: webhookSecret.properties.secretUri }
        { name: 'SLIPWAY_REGISTRY_EVENT_TOKEN', value: eventToken.properties.secretUri }
        { name: 'SLIPWAY_DATA_KEY', value: dataKeySecret.properties.secretUri }
        { name: 'DOCKER_HOST', value: dockerHost }
      ]
    }
  }
}

resource appVaultRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, app.id, '4633458b-17de-408a-b874-0445c86b69e6')
  scope: vault
  properties: {
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '4633458b-17de-408a-b874-0445c86b69e6')
  }
}

output url string = 'https://${app.properties.defaultHostName}'
output identityClientId string = identity.properties.clientId
output vaultUri string = vault.properties.vaultUri
