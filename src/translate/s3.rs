//! The S3 door's port, over the core.

use cirrus_s3::{PortError, S3Port};

use super::Translator;

#[async_trait::async_trait]
impl S3Port for Translator {
    async fn secret_key(&self, access_key: &str) -> Result<Option<String>, PortError> {
        let found = self
            .cloud
            .authenticate_key(access_key)
            .await
            .map_err(|e| PortError(e.to_string()))?;
        Ok(found.map(|(_, secret)| secret.expose().to_owned()))
    }
}
