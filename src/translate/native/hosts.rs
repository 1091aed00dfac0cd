//! `addHost`: a simulated host joins a cluster (an existing one of the Simulator hypervisor, or
//! a new one named in the pod) sized from the `[simulator]` configuration, and takes instances
//! at once; a KVM host can only be this very machine, on a server that runs the QEMU driver.
//! No other machine is ever contacted, and the password a client sends is neither used nor kept.

use cirrus_native::requests::{AddHost, ListInfra};
use cirrus_native::types as wire;
use cirrus_native::{Caller, Listing, NativePort, PortError};

use super::{port_error, unknown, Translator};
use crate::bootstrap;
use crate::model::infra::{self, Hypervisor};

/// True if `host` (a URL's host part) names this machine.
fn names_this_machine(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost")
        || host.eq_ignore_ascii_case(&bootstrap::machine_name())
    {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

impl Translator {
    pub(super) async fn native_add_host(
        &self,
        caller: &Caller,
        req: &AddHost,
    ) -> Result<Listing<wire::Host>, PortError> {
        let hypervisor = Hypervisor::parse(&req.hypervisor).ok_or_else(|| {
            PortError::InvalidParameter(format!(
                "Hypervisor {} is not served here; use Simulator or KVM",
                req.hypervisor
            ))
        })?;
        let Some(name) = req.url_host() else {
            return Err(PortError::InvalidParameter(format!(
                "The url {} names no host",
                req.url
            )));
        };
        // LIMITATION: host tags are not kept, so tagged offerings could not honour them; a
        // request with tags is refused rather than silently untagged.
        if !req.host_tags.is_empty() {
            return Err(PortError::InvalidParameter(
                "Host tags are not supported by this cloud".into(),
            ));
        }
        let zones = infra::list_zones(self.pool()).await.map_err(port_error)?;
        if !zones.iter().any(|z| z.id == req.zone_id) {
            return Err(unknown("zoneid", &req.zone_id));
        }
        let pod = infra::list_pods(self.pool())
            .await
            .map_err(port_error)?
            .into_iter()
            .find(|p| p.id == req.pod_id)
            .ok_or_else(|| unknown("podid", &req.pod_id))?;
        if pod.zone_id != req.zone_id {
            return Err(PortError::InvalidParameter(format!(
                "Pod {} does not belong to zone {}",
                pod.id, req.zone_id
            )));
        }
        let host_id = match hypervisor {
            Hypervisor::Kvm => self.this_machine_host(name).await?,
            Hypervisor::Simulator => self.add_simulated_host(req, &pod, name).await?,
        };
        let listing = ListInfra {
            id: Some(host_id),
            name: None,
            zone_id: None,
            pod_id: None,
            cluster_id: None,
            hypervisor: None,
            state: None,
            host_type: None,
            keyword: None,
            page: cirrus_native::args::Page::default(),
        };
        self.list_hosts(caller, &listing).await
    }

    /// This machine's QEMU host, registered when the server started with `--qemu`.
    async fn this_machine_host(&self, name: &str) -> Result<String, PortError> {
        if !self.cloud.orchestrator.drives(Hypervisor::Kvm) {
            return Err(PortError::InvalidParameter(
                "This server does not run the QEMU driver: start it with --qemu to use this \
                 machine as its KVM host"
                    .into(),
            ));
        }
        if !names_this_machine(name) {
            return Err(PortError::InvalidParameter(format!(
                "Only this machine can be a KVM host of this server, and {name} is not it"
            )));
        }
        // LIMITATION: this machine's QEMU host lives in its own cluster (made at start-up);
        // the cluster named in the request is not used for it.
        let host = bootstrap::ensure_qemu_host(&self.cloud.store)
            .await
            .map_err(port_error)?;
        Ok(host.id)
    }

    async fn add_simulated_host(
        &self,
        req: &AddHost,
        pod: &infra::Pod,
        name: &str,
    ) -> Result<String, PortError> {
        let clusters = infra::list_clusters(self.pool())
            .await
            .map_err(port_error)?;
        let existing = match (&req.cluster_id, &req.cluster_name) {
            (Some(id), _) => Some(
                clusters
                    .into_iter()
                    .find(|c| &c.id == id && c.pod_id == pod.id)
                    .ok_or_else(|| unknown("clusterid", id))?,
            ),
            (None, Some(n)) => clusters
                .into_iter()
                .find(|c| &c.name == n && c.pod_id == pod.id),
            (None, None) => None,
        };
        if let Some(c) = &existing {
            if c.hypervisor != Hypervisor::Simulator.as_str() {
                return Err(PortError::InvalidParameter(format!(
                    "Cannot add a host of hypervisor Simulator to cluster {} of hypervisor {}",
                    c.name, c.hypervisor
                )));
            }
        }
        let sim = &self.cloud.simulator;
        let memory_mib = i64::from(sim.host_memory_gib) * 1024;
        let mut tx = self
            .cloud
            .store
            .begin_write()
            .await
            .map_err(|e| port_error(e.into()))?;
        let cluster = match existing {
            Some(c) => c,
            None => {
                let cluster_name = req.cluster_name.as_deref().unwrap_or_default();
                infra::create_cluster(&mut tx, pod, cluster_name, Hypervisor::Simulator)
                    .await
                    .map_err(port_error)?
            }
        };
        let host = infra::add_host(&mut tx, &cluster, name, sim.host_cpus.into(), memory_mib)
            .await
            .map_err(port_error)?;
        tx.commit().await.map_err(|e| port_error(e.into()))?;
        tracing::info!(host = %host.name, cluster = %cluster.name, cpus = host.cpus,
            memory_mib = host.memory_mib, "simulated host added");
        Ok(host.id)
    }
}

#[cfg(test)]
mod tests {
    use super::names_this_machine;

    #[test]
    fn only_loopback_and_this_machines_name_are_this_machine() {
        for local in ["localhost", "127.0.0.1", "127.1.2.3", "::1"] {
            assert!(names_this_machine(local), "{local}");
        }
        assert!(names_this_machine(&crate::bootstrap::machine_name()));
        for other in [
            "10.0.0.5",
            "192.168.1.1",
            "kvm-7.example.org",
            "169.254.169.254",
        ] {
            assert!(!names_this_machine(other), "{other}");
        }
    }
}
