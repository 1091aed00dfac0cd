//! Placement: which host an instance runs on. Within the zone, only hosts of the template's
//! hypervisor that are up; among them the one with the most free memory (then CPU) once the
//! over-commit factors are applied, so load spreads. Capacity is reserved on the host row in
//! the same transaction that records the instance, and given back when it stops.

use sqlx::AnyConnection;

use crate::error::CoreResult;
use crate::model::infra::Host;
use crate::store::Store;

/// What one instance takes from its host.
#[derive(Debug, Clone, Copy)]
pub struct Demand {
    pub cpus: i64,
    pub memory_mib: i64,
}

/// How far a host's CPU and memory may be promised beyond what it has.
#[derive(Debug, Clone, Copy)]
pub struct Overcommit {
    pub cpu: f64,
    pub memory: f64,
}

impl Default for Overcommit {
    fn default() -> Self {
        Self {
            cpu: 4.0,
            memory: 1.0,
        }
    }
}

fn cpu_limit(h: &Host, o: Overcommit) -> i64 {
    (h.cpus as f64 * o.cpu).floor() as i64
}

fn memory_limit(h: &Host, o: Overcommit) -> i64 {
    (h.memory_mib as f64 * o.memory).floor() as i64
}

/// Chooses hosts for up to `count` instances of `demand` and reserves their capacity. Answers
/// one host id per placed instance; fewer than `count` when the zone runs out of room.
pub async fn reserve(
    store: &Store,
    db: &mut AnyConnection,
    zone_id: &str,
    hypervisor: &str,
    demand: Demand,
    count: usize,
    overcommit: Overcommit,
) -> CoreResult<Vec<String>> {
    let sql = format!(
        "SELECT * FROM hosts WHERE zone_id = $1 AND hypervisor = $2 AND state = 'up' \
         ORDER BY name{}",
        store.for_update()
    );
    let mut hosts: Vec<Host> = sqlx::query_as(&sql)
        .bind(zone_id)
        .bind(hypervisor)
        .fetch_all(&mut *db)
        .await?;

    let mut placed = Vec::with_capacity(count);
    let mut taken = vec![0i64; hosts.len()];
    for _ in 0..count {
        let best = hosts
            .iter()
            .enumerate()
            .filter(|(_, h)| {
                h.cpus_used + demand.cpus <= cpu_limit(h, overcommit)
                    && h.memory_used_mib + demand.memory_mib <= memory_limit(h, overcommit)
            })
            .max_by_key(|(_, h)| {
                (
                    memory_limit(h, overcommit) - h.memory_used_mib,
                    cpu_limit(h, overcommit) - h.cpus_used,
                )
            })
            .map(|(i, _)| i);
        let Some(i) = best else { break };
        hosts[i].cpus_used += demand.cpus;
        hosts[i].memory_used_mib += demand.memory_mib;
        taken[i] += 1;
        placed.push(hosts[i].id.clone());
    }

    for (host, n) in hosts.iter().zip(&taken).filter(|(_, n)| **n > 0) {
        sqlx::query("UPDATE hosts SET cpus_used = $2, memory_used_mib = $3 WHERE id = $1")
            .bind(&host.id)
            .bind(host.cpus_used)
            .bind(host.memory_used_mib)
            .execute(&mut *db)
            .await?;
        tracing::debug!(host = %host.name, instances = n, "capacity reserved");
    }
    Ok(placed)
}

/// Gives one instance's capacity back to its host.
pub async fn release(db: &mut AnyConnection, host_id: &str, demand: Demand) -> CoreResult<()> {
    sqlx::query(
        "UPDATE hosts SET cpus_used = CASE WHEN cpus_used > $2 THEN cpus_used - $2 ELSE 0 END, \
         memory_used_mib = CASE WHEN memory_used_mib > $3 THEN memory_used_mib - $3 ELSE 0 END \
         WHERE id = $1",
    )
    .bind(host_id)
    .bind(demand.cpus)
    .bind(demand.memory_mib)
    .execute(db)
    .await?;
    Ok(())
}
