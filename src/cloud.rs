//! The translation core's context: everything an operation of the core needs (the store, the
//! region, the data directory, the orchestrator), shared by the three doors' translations in `translate/`.

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::CoreResult;
use crate::model::identity::{self, Principal, Secret};
use crate::orchestrator::Orchestrator;
use crate::store::Store;

/// One running cloud, as seen from one management server.
#[derive(Debug)]
pub struct Cloud {
    pub store: Store,
    /// The region every zone of this cloud belongs to (EC2 region, S3 bucket region).
    pub region: String,
    /// The public URL of this server, as written into client configuration.
    pub endpoint_url: String,
    pub data_dir: PathBuf,
    /// Launches, stops and destroys instances through durable jobs.
    pub orchestrator: Arc<Orchestrator>,
    /// The secondary storage object store: buckets and objects, bytes under DIR/blobs.
    pub objects: Arc<crate::storage::ObjectStore>,
    /// Templates' images in secondary storage: downloads, imports and the host's cache.
    pub templates: Arc<crate::storage::templates::TemplateStore>,
    /// ISO images in secondary storage: downloads and the host's cache.
    pub isos: Arc<crate::storage::isos::IsoStore>,
    /// The size of the simulated hosts the first run makes, and of those added later.
    pub simulator: crate::config::SimulatorConfig,
}

impl Cloud {
    /// The principal and secret behind an access key / API key, if it is active.
    pub async fn authenticate_key(
        &self,
        access_key: &str,
    ) -> CoreResult<Option<(Principal, Secret)>> {
        let mut conn = self.store.pool.acquire().await?;
        identity::authenticate_key(&mut conn, access_key).await
    }
}
