//! The EC2 door's port, over the core.

use cirrus_ec2::{Caller, Credential, Ec2Port, PortError};

use super::Translator;
use crate::model::identity::Principal;

fn port_error(e: crate::error::CoreError) -> PortError {
    PortError(e.to_string())
}

pub(crate) fn caller_of(access_key: &str, p: &Principal) -> Caller {
    Caller {
        access_key: access_key.to_owned(),
        account_id: p.account.id.clone(),
        account_number: p.account.number.clone(),
        account_name: p.account.name.clone(),
        user_id: p.user.id.clone(),
        user_name: p.user.username.clone(),
        is_admin: p.is_root_admin(),
    }
}

#[async_trait::async_trait]
impl Ec2Port for Translator {
    async fn credential(&self, access_key: &str) -> Result<Option<Credential>, PortError> {
        let found = self
            .cloud
            .authenticate_key(access_key)
            .await
            .map_err(port_error)?;
        Ok(found.map(|(p, secret)| Credential {
            caller: caller_of(access_key, &p),
            secret_key: secret.expose().to_owned(),
        }))
    }
}
