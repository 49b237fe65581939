//! Credentials in Secrets Manager: one secret per name, under a deployment prefix.

use super::sdk_error;
use crate::ports::{PortResult, Secret, Vault};
use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;

/// The Secrets Manager vault. Secret names are `{prefix}{name}`.
#[derive(Debug, Clone)]
pub struct SecretsVault {
    client: Client,
    prefix: String,
}

impl SecretsVault {
    /// A client from the shared SDK configuration.
    pub fn from_config(config: &aws_config::SdkConfig, prefix: impl Into<String>) -> Self {
        Self::new(aws_sdk_secretsmanager::Client::new(config), prefix)
    }

    pub fn new(client: Client, prefix: impl Into<String>) -> Self {
        Self {
            client,
            prefix: prefix.into(),
        }
    }

    fn id(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Reads a secret by its full id or ARN (app secrets passed in by the template).
    pub async fn get_by_id(&self, id: &str) -> PortResult<Option<Secret>> {
        match self.client.get_secret_value().secret_id(id).send().await {
            Ok(out) => Ok(out.secret_string.map(Secret::new)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(sdk_error("secretsmanager get", e)),
        }
    }
}

#[async_trait]
impl Vault for SecretsVault {
    async fn put(&self, name: &str, value: &Secret) -> PortResult<()> {
        let id = self.id(name);
        let update = self
            .client
            .put_secret_value()
            .secret_id(&id)
            .secret_string(value.expose())
            .send()
            .await;
        match update {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_resource_not_found_exception()) =>
            {
                self.client
                    .create_secret()
                    .name(&id)
                    .secret_string(value.expose())
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| sdk_error("secretsmanager create", e))
            }
            Err(e) => Err(sdk_error("secretsmanager put", e)),
        }
    }

    async fn get(&self, name: &str) -> PortResult<Option<Secret>> {
        self.get_by_id(&self.id(name)).await
    }

    async fn delete(&self, name: &str) -> PortResult<()> {
        let result = self
            .client
            .delete_secret()
            .secret_id(self.id(name))
            .force_delete_without_recovery(true)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk_error("secretsmanager delete", e)),
        }
    }
}
