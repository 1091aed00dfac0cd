//! The native door's port, over the core.

use cirrus_native::{Caller, NativePort, PortError};

use super::Translator;
use crate::model::identity::Principal;

fn port_error(e: crate::error::CoreError) -> PortError {
    PortError(e.to_string())
}

pub(crate) fn caller_of(p: &Principal) -> Caller {
    Caller {
        user_id: p.user.id.clone(),
        user_name: p.user.username.clone(),
        account_id: p.account.id.clone(),
        account_name: p.account.name.clone(),
        domain_id: p.domain.id.clone(),
        is_admin: p.is_root_admin(),
    }
}

#[async_trait::async_trait]
impl NativePort for Translator {
    async fn credential(&self, api_key: &str) -> Result<Option<(Caller, String)>, PortError> {
        let found = self
            .cloud
            .authenticate_key(api_key)
            .await
            .map_err(port_error)?;
        Ok(found.map(|(p, secret)| (caller_of(&p), secret.expose().to_owned())))
    }
}
