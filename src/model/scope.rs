//! Scoped, paged listings for the native API: which owners' resources a listing may show
//! ([`Visibility`]), and the queries that list instances and templates under it. The instance
//! listing pages in SQL (a stable `ORDER BY created_ms, id`, so pages never overlap) and counts
//! the whole match in the same scope, so a page of 500 out of many thousands reads only what it
//! shows.

use sqlx::AnyPool;

use crate::error::CoreResult;
use crate::model::template::Template;

/// Whose resources a listing shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    Everything,
    /// The accounts of the domain at this path and of every domain below it.
    DomainTree(String),
    /// The accounts of this one domain (by id).
    Domain(String),
    /// This one account (by id).
    Account(String),
    /// Nothing at all (a project filter while there are no projects).
    Nothing,
}

/// True if `path` is `root` or a domain below it.
pub fn in_tree(root: &str, path: &str) -> bool {
    path == root
        || path
            .strip_prefix(root)
            .is_some_and(|rest| rest.starts_with('/'))
}

impl Visibility {
    /// True if a resource of this account, in this domain, is shown.
    pub fn admits(&self, account_id: &str, domain_id: &str, domain_path: &str) -> bool {
        match self {
            Self::Everything => true,
            Self::DomainTree(root) => in_tree(root, domain_path),
            Self::Domain(id) => id == domain_id,
            Self::Account(id) => id == account_id,
            Self::Nothing => false,
        }
    }
}

/// `LIKE` pattern matching `s` anywhere, with `\` escaping the wildcards.
fn contains_pattern(s: &str) -> String {
    let mut p = String::from("%");
    for c in s.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// Builds a `WHERE` clause with numbered text binds.
#[derive(Default)]
struct Where {
    clauses: Vec<String>,
    binds: Vec<String>,
}

impl Where {
    fn bind(&mut self, v: impl Into<String>) -> String {
        self.binds.push(v.into());
        format!("${}", self.binds.len())
    }

    fn add(&mut self, clause: String) {
        self.clauses.push(clause);
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    fn visibility(&mut self, v: &Visibility) {
        self.visibility_of(v, "i.account_id");
    }

    /// The visibility clause with `owner` as the owning account's column (accounts are `a`,
    /// domains `d`).
    fn visibility_of(&mut self, v: &Visibility, owner: &str) {
        match v {
            Visibility::Everything => {}
            Visibility::DomainTree(root) => {
                let exact = self.bind(root.clone());
                let below = self.bind(format!("{}/%", escape_like(root)));
                self.add(format!(
                    "(d.path = {exact} OR d.path LIKE {below} ESCAPE '\\')"
                ));
            }
            Visibility::Domain(id) => {
                let b = self.bind(id.clone());
                self.add(format!("a.domain_id = {b}"));
            }
            Visibility::Account(id) => {
                let b = self.bind(id.clone());
                self.add(format!("{owner} = {b}"));
            }
            Visibility::Nothing => self.add("1 = 0".to_owned()),
        }
    }
}

fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// What to list of instances.
#[derive(Debug, Clone, Default)]
pub struct InstanceQuery {
    pub visibility: Option<Visibility>,
    pub id: Option<String>,
    /// Any of these ids (empty for no filter).
    pub ids: Vec<String>,
    pub name: Option<String>,
    /// Matched in any case.
    pub state: Option<String>,
    pub zone_id: Option<String>,
    pub template_id: Option<String>,
    pub offering_id: Option<String>,
    /// Found in the name or display name, in any case.
    pub keyword: Option<String>,
    /// (key, value) pairs, any of which an instance must be tagged with; an empty value
    /// matches any value of the key.
    pub tags: Vec<(String, String)>,
    pub offset: u64,
    /// `None` for everything.
    pub limit: Option<u64>,
}

/// An instance with the names of what it refers to.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InstanceView {
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub account_id: String,
    pub account_name: String,
    pub domain_id: String,
    pub domain_name: String,
    pub zone_id: String,
    pub zone_name: String,
    pub host_id: Option<String>,
    pub host_name: Option<String>,
    pub template_id: String,
    pub template_name: String,
    pub template_display_text: String,
    pub hypervisor: String,
    pub offering_id: String,
    pub offering_name: String,
    pub cpus: i64,
    pub cpu_speed_mhz: i64,
    pub memory_mib: i64,
    pub state: String,
    pub created_ms: i64,
    pub key_name: Option<String>,
}

const INSTANCE_FROM: &str = " FROM instances i \
     JOIN accounts a ON a.id = i.account_id \
     JOIN domains d ON d.id = a.domain_id \
     JOIN zones z ON z.id = i.zone_id \
     JOIN templates t ON t.id = i.template_id \
     JOIN service_offerings o ON o.id = i.offering_id \
     LEFT JOIN hosts h ON h.id = i.host_id";

const INSTANCE_COLUMNS: &str = "SELECT i.id, i.name, i.display_name, i.account_id, \
     a.name AS account_name, a.domain_id, d.name AS domain_name, i.zone_id, z.name AS zone_name, \
     i.host_id, h.name AS host_name, i.template_id, t.name AS template_name, \
     t.display_text AS template_display_text, i.hypervisor, i.offering_id, \
     o.name AS offering_name, i.cpus, o.cpu_speed_mhz, i.memory_mib, i.state, i.created_ms, \
     i.key_name";

/// One page of the instances that match, and how many match in all.
pub async fn list_instances(
    db: &AnyPool,
    q: &InstanceQuery,
) -> CoreResult<(u64, Vec<InstanceView>)> {
    let mut w = Where::default();
    w.visibility(q.visibility.as_ref().unwrap_or(&Visibility::Nothing));
    if let Some(id) = &q.id {
        let b = w.bind(id.clone());
        w.add(format!("i.id = {b}"));
    }
    if !q.ids.is_empty() {
        let binds: Vec<String> = q.ids.iter().map(|id| w.bind(id.clone())).collect();
        w.add(format!("i.id IN ({})", binds.join(", ")));
    }
    if let Some(name) = &q.name {
        let b = w.bind(name.clone());
        w.add(format!("i.name = {b}"));
    }
    if let Some(state) = &q.state {
        let b = w.bind(state.to_lowercase());
        w.add(format!("LOWER(i.state) = {b}"));
    }
    for (column, value) in [
        ("i.zone_id", &q.zone_id),
        ("i.template_id", &q.template_id),
        ("i.offering_id", &q.offering_id),
    ] {
        if let Some(v) = value {
            let b = w.bind(v.clone());
            w.add(format!("{column} = {b}"));
        }
    }
    if let Some(k) = &q.keyword {
        let pattern = contains_pattern(k);
        let b1 = w.bind(pattern.clone());
        let b2 = w.bind(pattern);
        w.add(format!(
            "(LOWER(i.name) LIKE {b1} ESCAPE '\\' OR LOWER(i.display_name) LIKE {b2} ESCAPE '\\')"
        ));
    }
    if !q.tags.is_empty() {
        let mut any = Vec::new();
        for (k, v) in &q.tags {
            let kb = w.bind(k.clone());
            if v.is_empty() {
                any.push(format!("g.tag_key = {kb}"));
            } else {
                let vb = w.bind(v.clone());
                any.push(format!("(g.tag_key = {kb} AND g.tag_value = {vb})"));
            }
        }
        w.add(format!(
            "EXISTS (SELECT 1 FROM tags g WHERE g.resource_id = i.id AND \
             g.resource_kind = 'instance' AND ({}))",
            any.join(" OR ")
        ));
    }
    let filter = w.sql();
    // The filter reads only the instance row, plus its account and domain for a domain's
    // visibility: counting and paging join nothing else, and the names are joined to the page's
    // rows alone (a 500-row page of 25,000 then sorts ids on an index, not 25,000 joined rows).
    let owners = matches!(
        q.visibility,
        Some(Visibility::DomainTree(_)) | Some(Visibility::Domain(_))
    );
    let from = if owners {
        " FROM instances i JOIN accounts a ON a.id = i.account_id \
         JOIN domains d ON d.id = a.domain_id"
    } else {
        " FROM instances i"
    };

    let count_sql = format!("SELECT COUNT(*){from}{filter}");
    let mut count_q = sqlx::query_scalar::<_, i64>(&count_sql);
    for b in &w.binds {
        count_q = count_q.bind(b.as_str());
    }
    let count = count_q.fetch_one(db).await?;
    if count == 0 {
        return Ok((0, Vec::new()));
    }

    let mut page = format!("SELECT i.id{from}{filter} ORDER BY i.created_ms, i.id");
    if let Some(limit) = q.limit {
        page.push_str(&format!(" LIMIT {limit}"));
    }
    if q.offset > 0 {
        if q.limit.is_none() {
            // Both SQLite and PostgreSQL need a LIMIT before an OFFSET; this one never binds.
            page.push_str(&format!(" LIMIT {}", i64::MAX));
        }
        page.push_str(&format!(" OFFSET {}", q.offset));
    }
    let named_from = INSTANCE_FROM.replacen(
        " FROM instances i",
        &format!(" FROM ({page}) p JOIN instances i ON i.id = p.id"),
        1,
    );
    let sql = format!("{INSTANCE_COLUMNS}{named_from} ORDER BY i.created_ms, i.id");
    let mut rows_q = sqlx::query_as::<_, InstanceView>(&sql);
    for b in &w.binds {
        rows_q = rows_q.bind(b.as_str());
    }
    let rows = rows_q.fetch_all(db).await?;
    Ok((u64::try_from(count).unwrap_or(0), rows))
}

/// True if an instance with this id exists, whoever owns it.
pub async fn instance_exists(db: &AnyPool, id: &str) -> CoreResult<bool> {
    let row: Option<(String,)> = sqlx::query_as("SELECT id FROM instances WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?;
    Ok(row.is_some())
}

/// Every template, oldest first.
pub async fn list_all_templates(db: &AnyPool) -> CoreResult<Vec<Template>> {
    Ok(sqlx::query_as::<_, Template>(
        "SELECT * FROM templates WHERE state <> 'deleted' ORDER BY created_ms, id",
    )
    .fetch_all(db)
    .await?)
}

/// The user an active API key belongs to.
pub async fn user_of_key(db: &AnyPool, access_key: &str) -> CoreResult<Option<String>> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT user_id FROM api_keys WHERE access_key = $1 AND state = 'active'")
            .bind(access_key)
            .fetch_optional(db)
            .await?;
    Ok(row.map(|(id,)| id))
}

/// The job pending (queued or running) on each of these instances, the oldest first.
pub async fn pending_jobs(
    db: &AnyPool,
    instance_ids: &[&str],
) -> CoreResult<std::collections::HashMap<String, String>> {
    let mut out = std::collections::HashMap::new();
    if instance_ids.is_empty() {
        return Ok(out);
    }
    let binds: Vec<String> = (1..=instance_ids.len()).map(|n| format!("${n}")).collect();
    let sql = format!(
        "SELECT instance_id, id FROM jobs WHERE state IN ('queued', 'running') AND instance_id \
         IN ({}) ORDER BY created_ms DESC, id DESC",
        binds.join(", ")
    );
    let mut q = sqlx::query_as::<_, (String, String)>(&sql);
    for id in instance_ids {
        q = q.bind(*id);
    }
    // Newest first, so the oldest pending job is the one left in the map.
    for (instance, job) in q.fetch_all(db).await? {
        out.insert(instance, job);
    }
    Ok(out)
}

/// An instance's network interface with its network.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NicView {
    pub id: String,
    pub instance_id: String,
    pub network_id: String,
    pub network_ec2_id: String,
    pub cidr: String,
    pub device_index: i64,
    pub private_ip: String,
    pub mac_address: String,
}

/// A security group an interface of an instance is in.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InstanceGroup {
    pub instance_id: String,
    pub id: String,
    pub name: String,
    pub description: String,
}

/// A tag of a resource.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ResourceTag {
    pub resource_id: String,
    pub tag_key: String,
    pub tag_value: String,
}

fn in_list(n: usize) -> String {
    (1..=n)
        .map(|k| format!("${k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What hangs off a page of instances: their interfaces, groups and tags.
#[derive(Debug, Clone, Default)]
pub struct InstanceParts {
    pub nics: Vec<NicView>,
    pub groups: Vec<InstanceGroup>,
    pub tags: Vec<ResourceTag>,
}

/// The interfaces (by device index), groups and tags of these instances.
pub async fn instance_parts(db: &AnyPool, ids: &[&str]) -> CoreResult<InstanceParts> {
    if ids.is_empty() {
        return Ok(InstanceParts::default());
    }
    let list = in_list(ids.len());
    let nics_sql = format!(
        "SELECT n.id, n.instance_id, n.network_id, w.ec2_id AS network_ec2_id, w.cidr, \
         n.device_index, n.private_ip, n.mac_address FROM network_interfaces n \
         JOIN networks w ON w.id = n.network_id WHERE n.instance_id IN ({list}) \
         ORDER BY n.instance_id, n.device_index"
    );
    let groups_sql = format!(
        "SELECT DISTINCT n.instance_id, s.id, s.name, s.description \
         FROM interface_security_groups g JOIN network_interfaces n ON n.id = g.interface_id \
         JOIN security_groups s ON s.id = g.group_id WHERE n.instance_id IN ({list}) \
         ORDER BY n.instance_id, s.name"
    );
    let tags_sql = format!(
        "SELECT resource_id, tag_key, tag_value FROM tags WHERE resource_kind = 'instance' \
         AND resource_id IN ({list}) ORDER BY resource_id, tag_key"
    );
    let mut nics = sqlx::query_as::<_, NicView>(&nics_sql);
    let mut groups = sqlx::query_as::<_, InstanceGroup>(&groups_sql);
    let mut tags = sqlx::query_as::<_, ResourceTag>(&tags_sql);
    for id in ids {
        nics = nics.bind(*id);
        groups = groups.bind(*id);
        tags = tags.bind(*id);
    }
    Ok(InstanceParts {
        nics: nics.fetch_all(db).await?,
        groups: groups.fetch_all(db).await?,
        tags: tags.fetch_all(db).await?,
    })
}

/// The owning account and EC2 id of a taggable resource, by the table that holds it
/// (`instances`, `templates`, `networks`, `vpcs`, `security_groups`).
pub async fn resource_owner(
    db: &AnyPool,
    table: &'static str,
    id: &str,
) -> CoreResult<Option<(String, String)>> {
    let sql = format!("SELECT account_id, ec2_id FROM {table} WHERE id = $1");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(db).await?)
}

/// A filter over a log (jobs, events): whose entries, from when, and which page.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub visibility: Option<Visibility>,
    pub id: Option<String>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    /// The event type (`VM.CREATE`), matched in any case.
    pub kind: Option<String>,
    /// The event level (`INFO`), matched in any case.
    pub level: Option<String>,
    /// Found in the description, in any case.
    pub keyword: Option<String>,
    pub offset: u64,
    pub limit: Option<u64>,
}

impl LogQuery {
    fn filter(&self, w: &mut Where, table: &str) {
        w.visibility_of(
            self.visibility.as_ref().unwrap_or(&Visibility::Nothing),
            &format!("{table}.account_id"),
        );
        if let Some(id) = &self.id {
            let b = w.bind(id.clone());
            w.add(format!("{table}.id = {b}"));
        }
        // Times are numbers from the door's own parsing, written into the SQL as literals.
        if let Some(t) = self.start_ms {
            w.add(format!("{table}.created_ms >= {t}"));
        }
        if let Some(t) = self.end_ms {
            w.add(format!("{table}.created_ms <= {t}"));
        }
    }

    fn page_sql(&self) -> String {
        let mut sql = String::new();
        match self.limit {
            Some(limit) => sql.push_str(&format!(" LIMIT {limit}")),
            None if self.offset > 0 => sql.push_str(&format!(" LIMIT {}", i64::MAX)),
            None => {}
        }
        if self.offset > 0 {
            sql.push_str(&format!(" OFFSET {}", self.offset));
        }
        sql
    }
}

/// A job with the API command it was submitted as (empty when none was recorded).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobEntry {
    pub id: String,
    pub command: String,
    /// The orchestrator's job kind; empty for a job that ended when it was made.
    pub kind: String,
    pub instance_id: Option<String>,
    pub account_id: String,
    pub user_id: String,
    /// queued, running, succeeded or failed.
    pub state: String,
    pub error_code: Option<String>,
    pub error_text: Option<String>,
    pub created_ms: i64,
    pub finished_ms: Option<i64>,
}

/// Orchestrator jobs (labelled with their API command when one was recorded) and the API jobs
/// no orchestrator job backs (ended when they were made, or run by a door), as one table `x`.
const JOBS_FROM: &str = " FROM (\
     SELECT j.id, COALESCE(n.command, '') AS command, j.kind, j.instance_id, j.account_id, \
     j.user_id, j.state, j.error_code, j.error_text, j.created_ms, j.finished_ms \
     FROM jobs j LEFT JOIN api_jobs n ON n.id = j.id \
     UNION ALL \
     SELECT n.id, n.command, '' AS kind, n.instance_id, n.account_id, n.user_id, \
     n.state, n.error_code, n.error_text, n.created_ms, \
     CASE WHEN n.state = 'running' THEN NULL ELSE COALESCE(n.finished_ms, n.created_ms) END \
     AS finished_ms FROM api_jobs n WHERE n.backed = 0\
     ) x JOIN accounts a ON a.id = x.account_id JOIN domains d ON d.id = a.domain_id";

/// One page of the jobs that match (newest first), and how many match in all.
pub async fn list_jobs(db: &AnyPool, q: &LogQuery) -> CoreResult<(u64, Vec<JobEntry>)> {
    let mut w = Where::default();
    q.filter(&mut w, "x");
    let filter = w.sql();
    let count_sql = format!("SELECT COUNT(*){JOBS_FROM}{filter}");
    let mut count_q = sqlx::query_scalar::<_, i64>(&count_sql);
    for b in &w.binds {
        count_q = count_q.bind(b.as_str());
    }
    let count = count_q.fetch_one(db).await?;
    if count == 0 {
        return Ok((0, Vec::new()));
    }
    let sql = format!(
        "SELECT x.id, x.command, x.kind, x.instance_id, x.account_id, x.user_id, x.state, \
         x.error_code, x.error_text, x.created_ms, x.finished_ms{JOBS_FROM}{filter} \
         ORDER BY x.created_ms DESC, x.id{}",
        q.page_sql()
    );
    let mut rows_q = sqlx::query_as::<_, JobEntry>(&sql);
    for b in &w.binds {
        rows_q = rows_q.bind(b.as_str());
    }
    Ok((
        u64::try_from(count).unwrap_or(0),
        rows_q.fetch_all(db).await?,
    ))
}

/// The job of this id, whoever owns it.
pub async fn job(db: &AnyPool, id: &str) -> CoreResult<Option<JobEntry>> {
    let q = LogQuery {
        visibility: Some(Visibility::Everything),
        id: Some(id.to_owned()),
        limit: Some(1),
        ..LogQuery::default()
    };
    Ok(list_jobs(db, &q).await?.1.into_iter().next())
}

/// An event with the names of who caused it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventView {
    pub id: String,
    pub account_id: String,
    pub account_name: String,
    pub domain_id: String,
    pub domain_name: String,
    pub username: Option<String>,
    pub kind: String,
    pub level: String,
    pub state: String,
    pub resource_id: Option<String>,
    pub description: String,
    pub created_ms: i64,
}

const EVENTS_FROM: &str = " FROM events e JOIN accounts a ON a.id = e.account_id \
     JOIN domains d ON d.id = a.domain_id LEFT JOIN users u ON u.id = e.user_id";

/// One page of the events that match (newest first), and how many match in all.
pub async fn list_events(db: &AnyPool, q: &LogQuery) -> CoreResult<(u64, Vec<EventView>)> {
    let mut w = Where::default();
    q.filter(&mut w, "e");
    if let Some(kind) = &q.kind {
        let b = w.bind(kind.to_lowercase());
        w.add(format!("LOWER(e.kind) = {b}"));
    }
    if let Some(level) = &q.level {
        let b = w.bind(level.to_lowercase());
        w.add(format!("LOWER(e.level) = {b}"));
    }
    if let Some(k) = &q.keyword {
        let b = w.bind(contains_pattern(k));
        w.add(format!("LOWER(e.description) LIKE {b} ESCAPE '\\'"));
    }
    let filter = w.sql();
    let count_sql = format!("SELECT COUNT(*){EVENTS_FROM}{filter}");
    let mut count_q = sqlx::query_scalar::<_, i64>(&count_sql);
    for b in &w.binds {
        count_q = count_q.bind(b.as_str());
    }
    let count = count_q.fetch_one(db).await?;
    if count == 0 {
        return Ok((0, Vec::new()));
    }
    let sql = format!(
        "SELECT e.id, e.account_id, a.name AS account_name, a.domain_id, \
         d.name AS domain_name, u.username, e.kind, e.level, e.state, e.resource_id, \
         e.description, e.created_ms{EVENTS_FROM}{filter} ORDER BY e.created_ms DESC, e.id{}",
        q.page_sql()
    );
    let mut rows_q = sqlx::query_as::<_, EventView>(&sql);
    for b in &w.binds {
        rows_q = rows_q.bind(b.as_str());
    }
    Ok((
        u64::try_from(count).unwrap_or(0),
        rows_q.fetch_all(db).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::identity::{self, Role};
    use crate::model::instance::{self, InstanceRow};
    use crate::model::{infra, offering, template};
    use crate::store::Store;

    #[test]
    fn domain_trees() {
        let cases = [
            ("ROOT", "ROOT", true),
            ("ROOT", "ROOT/eng", true),
            ("ROOT/eng", "ROOT/eng/web", true),
            ("ROOT/eng", "ROOT/engineering", false),
            ("ROOT/eng", "ROOT", false),
        ];
        for (root, path, want) in cases {
            assert_eq!(in_tree(root, path), want, "{root} {path}");
        }
    }

    #[test]
    fn visibility_admits() {
        let v = Visibility::DomainTree("ROOT/eng".into());
        assert!(v.admits("a", "d", "ROOT/eng/web"));
        assert!(!v.admits("a", "d", "ROOT/ops"));
        assert!(Visibility::Account("a".into()).admits("a", "d", "ROOT"));
        assert!(!Visibility::Nothing.admits("a", "d", "ROOT"));
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(contains_pattern("Web_1%"), "%web\\_1\\%%");
        assert_eq!(escape_like("ROOT/a_b"), "ROOT/a\\_b");
    }

    /// A cloud with domains ROOT, ROOT/eng, ROOT/eng/web and ROOT/ops, one account in each of
    /// the last three, and 3, 2 and 4 instances in them, created in that order.
    async fn cloud() -> (tempfile::TempDir, Store, Vec<String>, Vec<String>) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::open(&url).await.expect("a store");
        let mut db = store.pool.acquire().await.expect("a connection");
        identity::ensure_root_domain(&mut db).await.expect("ROOT");
        let mut accounts = Vec::new();
        for (parent, name) in [("ROOT", "eng"), ("ROOT/eng", "web"), ("ROOT", "ops")] {
            let d = identity::create_domain(&mut db, parent, name)
                .await
                .expect("a domain");
            let a = identity::create_account(&mut db, &d.id, &format!("acct-{name}"), Role::User)
                .await
                .expect("an account");
            accounts.push(a.id);
        }
        let zone = infra::create_zone(&mut db, "z1", "r1")
            .await
            .expect("a zone");
        let o = offering::create_service_offering(&mut db, "t3.micro", 2, 1024, true)
            .await
            .expect("an offering");
        let t = template::create_builtin(&mut db, &accounts[0], &zone.id)
            .await
            .expect("a template");
        let mut ids = Vec::new();
        for (n, (account, count)) in accounts.iter().zip([3, 2, 4]).enumerate() {
            for k in 0..count {
                let seq = ids.len() as i64;
                let id = format!("00000000-0000-4000-8000-{seq:012}");
                let row = InstanceRow {
                    id: id.clone(),
                    ec2_id: format!("i-{seq:017}"),
                    name: format!("vm-{n}-{k}"),
                    display_name: if k == 0 {
                        format!("Web_{n}")
                    } else {
                        format!("db {n}")
                    },
                    account_id: account.clone(),
                    user_id: String::new(),
                    zone_id: zone.id.clone(),
                    host_id: None,
                    offering_id: o.id.clone(),
                    template_id: t.id.clone(),
                    hypervisor: "Simulator".into(),
                    cpus: 2,
                    memory_mib: 1024,
                    state: if k % 2 == 0 { "Running" } else { "Stopped" }.into(),
                    target_state: None,
                    state_reason: String::new(),
                    capacity_held: 0,
                    user_data: None,
                    key_name: None,
                    reservation_id: format!("r-{seq:017}"),
                    launch_index: 0,
                    client_token: None,
                    created_ms: 1_000 + seq,
                    launched_ms: None,
                    destroyed_ms: None,
                    updated_ms: 1_000 + seq,
                };
                instance::insert(&mut db, &row).await.expect("an instance");
                ids.push(id);
            }
        }
        drop(db);
        (dir, store, accounts, ids)
    }

    #[tokio::test]
    async fn instances_by_visibility_filter_and_page() {
        let (_dir, store, accounts, ids) = cloud().await;
        let domains = identity::list_domains(&store.pool).await.expect("domains");
        let eng = domains
            .iter()
            .find(|d| d.path == "ROOT/eng")
            .map(|d| d.id.clone());
        let q = |f: fn(&mut InstanceQuery)| {
            let mut q = InstanceQuery {
                visibility: Some(Visibility::Everything),
                ..InstanceQuery::default()
            };
            f(&mut q);
            q
        };
        let mut cases: Vec<(&str, InstanceQuery, u64, Vec<String>)> = vec![
            ("everything", q(|_| {}), 9, ids.clone()),
            (
                "a page",
                q(|q| {
                    q.offset = 2;
                    q.limit = Some(3);
                }),
                9,
                ids[2..5].to_vec(),
            ),
            (
                "the last page",
                q(|q| {
                    q.offset = 8;
                    q.limit = Some(3);
                }),
                9,
                ids[8..].to_vec(),
            ),
            (
                "past the end",
                q(|q| {
                    q.offset = 20;
                    q.limit = Some(3);
                }),
                9,
                vec![],
            ),
            (
                "offset without limit",
                q(|q| q.offset = 5),
                9,
                ids[5..].to_vec(),
            ),
            (
                "state in any case",
                q(|q| q.state = Some("rUnNiNg".into())),
                5,
                vec![
                    ids[0].clone(),
                    ids[2].clone(),
                    ids[3].clone(),
                    ids[5].clone(),
                    ids[7].clone(),
                ],
            ),
            (
                "keyword with a wildcard",
                q(|q| q.keyword = Some("WEB_".into())),
                3,
                vec![ids[0].clone(), ids[3].clone(), ids[5].clone()],
            ),
            (
                "name",
                q(|q| q.name = Some("vm-2-3".into())),
                1,
                vec![ids[8].clone()],
            ),
            (
                "nothing",
                q(|q| q.visibility = Some(Visibility::Nothing)),
                0,
                vec![],
            ),
            (
                "a domain tree",
                q(|q| q.visibility = Some(Visibility::DomainTree("ROOT/eng".into()))),
                5,
                ids[..5].to_vec(),
            ),
        ];
        let mut one_domain = q(|_| {});
        one_domain.visibility = eng.map(Visibility::Domain);
        cases.push(("one domain", one_domain, 3, ids[..3].to_vec()));
        let mut one_account = q(|_| {});
        one_account.visibility = Some(Visibility::Account(accounts[2].clone()));
        cases.push(("one account", one_account, 4, ids[5..].to_vec()));
        let mut by_ids = q(|_| {});
        by_ids.ids = vec![ids[1].clone(), ids[6].clone()];
        cases.push(("ids", by_ids, 2, vec![ids[1].clone(), ids[6].clone()]));

        for (what, query, count, want) in cases {
            let (n, rows) = list_instances(&store.pool, &query)
                .await
                .expect("a listing");
            let got: Vec<String> = rows.into_iter().map(|r| r.id).collect();
            assert_eq!((n, got), (count, want), "{what}");
        }
        assert!(instance_exists(&store.pool, &ids[0]).await.unwrap_or(false));
        assert!(!instance_exists(&store.pool, "nope").await.unwrap_or(true));
    }

    #[tokio::test]
    async fn logs_by_visibility_and_pending_jobs() {
        use crate::model::api_job::{self, NewApiJob};
        use crate::model::event::{self, Level, NewEvent};

        let (_dir, store, accounts, ids) = cloud().await;
        let mut db = store.pool.acquire().await.expect("a connection");
        for (n, account) in accounts.iter().enumerate() {
            let e = NewEvent {
                account_id: account,
                user_id: "",
                kind: if n == 0 { "VM.CREATE" } else { "VM.STOP" },
                level: Level::Info,
                state: "Completed",
                resource_id: Some(&ids[n]),
                description: format!("event {n}"),
            };
            event::record(&mut db, e).await.expect("an event");
        }
        let q = |visibility| LogQuery {
            visibility: Some(visibility),
            ..LogQuery::default()
        };
        let (n, _) = list_events(&store.pool, &q(Visibility::Everything))
            .await
            .expect("events");
        assert_eq!(n, 3);
        let (n, rows) = list_events(&store.pool, &q(Visibility::Account(accounts[1].clone())))
            .await
            .expect("events");
        assert_eq!((n, rows[0].description.as_str()), (1, "event 1"));
        let mut by_kind = q(Visibility::Everything);
        by_kind.kind = Some("vm.stop".into());
        assert_eq!(
            list_events(&store.pool, &by_kind).await.expect("events").0,
            2
        );
        let (n, _) = list_events(&store.pool, &q(Visibility::DomainTree("ROOT/eng".into())))
            .await
            .expect("events");
        assert_eq!(n, 2, "eng and eng/web");

        sqlx::query(
            "INSERT INTO jobs (id, kind, instance_id, account_id, user_id, payload, state, \
             attempts, created_ms, deadline_ms) VALUES ('j1', 'StartInstance', $1, $2, '', \
             '{\"kind\":\"start_instance\"}', 'queued', 0, 1, 2)",
        )
        .bind(&ids[0])
        .bind(&accounts[0])
        .execute(&mut *db)
        .await
        .expect("a job");
        let job = NewApiJob {
            command: "deployVirtualMachine",
            account_id: &accounts[0],
            user_id: "",
            instance_id: Some(&ids[0]),
        };
        api_job::label(&mut db, "j1", job).await.expect("a label");
        let done = NewApiJob {
            command: "deleteDomain",
            account_id: &accounts[1],
            user_id: "",
            instance_id: None,
        };
        let done = api_job::completed(&mut db, done).await.expect("a job");

        let (n, rows) = list_jobs(&store.pool, &q(Visibility::Everything))
            .await
            .expect("jobs");
        assert_eq!(n, 2, "a labelled job is listed once");
        let got: Vec<(&str, &str, &str)> = rows
            .iter()
            .map(|j| (j.id.as_str(), j.command.as_str(), j.state.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (done.as_str(), "deleteDomain", "succeeded"),
                ("j1", "deployVirtualMachine", "queued")
            ]
        );
        let mine = list_jobs(&store.pool, &q(Visibility::Account(accounts[0].clone())))
            .await
            .expect("jobs");
        assert_eq!(mine.0, 1);
        assert_eq!(
            job_by_id(&store.pool, "j1").await.map(|j| j.kind),
            Some("StartInstance".into())
        );

        let pending = pending_jobs(&store.pool, &[&ids[0], &ids[1]])
            .await
            .expect("pending jobs");
        assert_eq!(pending.len(), 1);
        assert_eq!(pending.get(&ids[0]).map(String::as_str), Some("j1"));
    }

    async fn job_by_id(db: &AnyPool, id: &str) -> Option<JobEntry> {
        job(db, id).await.expect("a lookup")
    }
}
