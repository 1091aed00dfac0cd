//! Scoped, paged listings for the native API: which owners' resources a listing may show
//! ([`Visibility`]), and the queries that list instances and templates under it. The instance listing pages in SQL
//! (a stable `ORDER BY created_ms, id`, so pages never overlap) and counts the whole match in
//! the same scope, so a page of 500 out of many thousands reads only what it shows.

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
                self.add(format!("i.account_id = {b}"));
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
     o.name AS offering_name, i.cpus, o.cpu_speed_mhz, i.memory_mib, i.state, i.created_ms";

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
    let filter = w.sql();

    let count_sql = format!("SELECT COUNT(*){INSTANCE_FROM}{filter}");
    let mut count_q = sqlx::query_scalar::<_, i64>(&count_sql);
    for b in &w.binds {
        count_q = count_q.bind(b.as_str());
    }
    let count = count_q.fetch_one(db).await?;
    if count == 0 {
        return Ok((0, Vec::new()));
    }

    let mut sql = format!("{INSTANCE_COLUMNS}{INSTANCE_FROM}{filter} ORDER BY i.created_ms, i.id");
    if let Some(limit) = q.limit {
        sql.push_str(&format!(" LIMIT {limit}"));
    }
    if q.offset > 0 {
        if q.limit.is_none() {
            // SQLite needs a LIMIT before an OFFSET; -1 is "no limit" there, and PostgreSQL
            // takes LIMIT ALL.
            sql.push_str(" LIMIT ALL");
        }
        sql.push_str(&format!(" OFFSET {}", q.offset));
    }
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
    Ok(
        sqlx::query_as::<_, Template>("SELECT * FROM templates ORDER BY created_ms, id")
            .fetch_all(db)
            .await?,
    )
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
