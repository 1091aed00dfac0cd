//! Identity administration beyond what first run and the `cirrus admin` CLI need: the steps of
//! a password login split so the slow hash check can run off the async runtime, and (for the
//! native API's account management) enabling, disabling, updating and deleting domains,
//! accounts and users with the checks that keep the tree whole.

use sqlx::AnyConnection;

use crate::error::{CoreError, CoreResult, ResourceKind};
use crate::model::identity::{self, KeyPair};
pub use crate::model::offering_admin::Removal;
use crate::now_ms;

fn check_name(kind: ResourceKind, name: &str) -> CoreResult<()> {
    if name.is_empty()
        || name.chars().count() > 255
        || name.contains('/')
        || name.chars().any(char::is_control)
    {
        return Err(CoreError::InvalidParameter(format!(
            "'{name}' is not a valid {kind} name: use 1 to 255 printable characters without '/'"
        )));
    }
    Ok(())
}

fn taken(kind: ResourceKind, name: &str) -> CoreError {
    CoreError::AlreadyExists {
        kind,
        name: name.to_owned(),
    }
}

fn gone(done: &sqlx::any::AnyQueryResult, kind: ResourceKind, id: &str) -> CoreResult<()> {
    if done.rows_affected() == 0 {
        return Err(CoreError::not_found(kind, id));
    }
    Ok(())
}

async fn count(db: &mut AnyConnection, sql: &str, id: &str) -> CoreResult<i64> {
    let (n,): (i64,) = sqlx::query_as(sql).bind(id).fetch_one(db).await?;
    Ok(n)
}

/// Renames a domain; the paths of the domain and of every domain below it follow.
pub async fn rename_domain(db: &mut AnyConnection, id: &str, name: &str) -> CoreResult<()> {
    check_name(ResourceKind::Domain, name)?;
    let d = identity::domain_by_id(db, id).await?;
    let Some(parent_id) = &d.parent_id else {
        return Err(CoreError::InvalidParameter(
            "The ROOT domain cannot be renamed".to_owned(),
        ));
    };
    let parent = identity::domain_by_id(db, parent_id).await?;
    let path = format!("{}/{name}", parent.path);
    if path == d.path {
        return Ok(());
    }
    if identity::domain_by_path(db, &path).await.is_ok() {
        return Err(taken(ResourceKind::Domain, name));
    }
    let old_len = i64::try_from(d.path.chars().count()).unwrap_or(i64::MAX);
    sqlx::query("UPDATE domains SET path = $2 || SUBSTR(path, $3) WHERE path = $1 OR path LIKE $4")
        .bind(&d.path)
        .bind(&path)
        .bind(old_len + 1)
        .bind(format!("{}/%", d.path))
        .execute(&mut *db)
        .await?;
    sqlx::query("UPDATE domains SET name = $2 WHERE id = $1")
        .bind(id)
        .bind(name)
        .execute(db)
        .await?;
    Ok(())
}

/// Deletes a domain with no domains and no accounts below it.
pub async fn delete_domain(db: &mut AnyConnection, id: &str) -> CoreResult<Removal> {
    let d = identity::domain_by_id(db, id).await?;
    if d.parent_id.is_none() {
        return Err(CoreError::InvalidParameter(
            "The ROOT domain cannot be deleted".to_owned(),
        ));
    }
    let children = count(db, "SELECT COUNT(*) FROM domains WHERE parent_id = $1", id).await?;
    let accounts = count(db, "SELECT COUNT(*) FROM accounts WHERE domain_id = $1", id).await?;
    if children + accounts > 0 {
        return Ok(Removal::InUse(children + accounts));
    }
    let done = sqlx::query("DELETE FROM domains WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    gone(&done, ResourceKind::Domain, id)?;
    Ok(Removal::Removed)
}

/// Renames an account (names are unique within a domain).
pub async fn rename_account(db: &mut AnyConnection, id: &str, name: &str) -> CoreResult<()> {
    check_name(ResourceKind::Account, name)?;
    let a = identity::account_by_id(db, id).await?;
    if identity::account_by_name(db, &a.domain_id, name)
        .await
        .is_ok_and(|other| other.id != a.id)
    {
        return Err(taken(ResourceKind::Account, name));
    }
    let done = sqlx::query("UPDATE accounts SET name = $2 WHERE id = $1")
        .bind(id)
        .bind(name)
        .execute(db)
        .await?;
    gone(&done, ResourceKind::Account, id)
}

/// Whether an account may be used: `enabled`, `disabled` or `locked`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountState {
    Enabled,
    Disabled,
    Locked,
}

impl AccountState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Disabled => "disabled",
            Self::Locked => "locked",
        }
    }
}

/// Enables, disables or locks an account: only an enabled account's keys and sessions work.
pub async fn set_account_state(
    db: &mut AnyConnection,
    id: &str,
    state: AccountState,
) -> CoreResult<()> {
    let done = sqlx::query("UPDATE accounts SET state = $2 WHERE id = $1")
        .bind(id)
        .bind(state.as_str())
        .execute(&mut *db)
        .await?;
    gone(&done, ResourceKind::Account, id)?;
    if state != AccountState::Enabled {
        sqlx::query(
            "DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE account_id = $1)",
        )
        .bind(id)
        .execute(db)
        .await?;
    }
    Ok(())
}

/// Deletes an account with its users, keys and sessions, if it owns no instances, no
/// templates and no ISOs.
pub async fn delete_account(db: &mut AnyConnection, id: &str) -> CoreResult<Removal> {
    identity::account_by_id(db, id).await?;
    let owned = count(
        db,
        "SELECT COUNT(*) FROM instances WHERE account_id = $1",
        id,
    )
    .await?
        + count(
            db,
            "SELECT COUNT(*) FROM templates WHERE account_id = $1",
            id,
        )
        .await?
        + count(db, "SELECT COUNT(*) FROM isos WHERE account_id = $1", id).await?;
    if owned > 0 {
        return Ok(Removal::InUse(owned));
    }
    // With no instances left the account has no interfaces; what remains is its networks,
    // groups, key pairs and tags, then its identity.
    for sql in [
        "DELETE FROM tags WHERE account_id = $1",
        "DELETE FROM security_group_rules WHERE group_id IN \
         (SELECT id FROM security_groups WHERE account_id = $1)",
        "DELETE FROM security_groups WHERE account_id = $1",
        "DELETE FROM networks WHERE account_id = $1",
        "DELETE FROM vpcs WHERE account_id = $1",
        "DELETE FROM ssh_key_pairs WHERE account_id = $1",
        "DELETE FROM launch_requests WHERE account_id = $1",
        "DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE account_id = $1)",
        "DELETE FROM api_keys WHERE user_id IN (SELECT id FROM users WHERE account_id = $1)",
        "DELETE FROM users WHERE account_id = $1",
        "DELETE FROM api_jobs WHERE account_id = $1",
        "DELETE FROM accounts WHERE id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut *db).await?;
    }
    Ok(Removal::Removed)
}

/// What to change of a user; `None` keeps it. The password arrives hashed.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub username: Option<String>,
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    pub email: Option<String>,
    pub password_hash: Option<String>,
}

pub async fn update_user(db: &mut AnyConnection, id: &str, c: &UserChanges) -> CoreResult<()> {
    if let Some(name) = &c.username {
        check_name(ResourceKind::User, name)?;
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT o.id FROM users o JOIN users u ON u.domain_id = o.domain_id              WHERE u.id = $1 AND o.username = $2 AND o.id <> $1",
        )
        .bind(id)
        .bind(name)
        .fetch_optional(&mut *db)
        .await?;
        if row.is_some() {
            return Err(taken(ResourceKind::User, name));
        }
    }
    let done = sqlx::query(
        "UPDATE users SET username = COALESCE($2, username), firstname = COALESCE($3, firstname),          lastname = COALESCE($4, lastname), email = COALESCE($5, email),          password_hash = COALESCE($6, password_hash) WHERE id = $1",
    )
    .bind(id)
    .bind(c.username.as_deref())
    .bind(c.firstname.as_deref())
    .bind(c.lastname.as_deref())
    .bind(c.email.as_deref())
    .bind(c.password_hash.as_deref())
    .execute(db)
    .await?;
    gone(&done, ResourceKind::User, id)
}

/// Deletes a user with its keys and sessions.
pub async fn delete_user(db: &mut AnyConnection, id: &str) -> CoreResult<()> {
    for sql in [
        "DELETE FROM sessions WHERE user_id = $1",
        "DELETE FROM api_keys WHERE user_id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut *db).await?;
    }
    let done = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    gone(&done, ResourceKind::User, id)
}

/// Replaces the user's API keys: every active key is revoked and a new pair made.
pub async fn replace_keys(db: &mut AnyConnection, user_id: &str) -> CoreResult<KeyPair> {
    sqlx::query(
        "UPDATE api_keys SET state = 'revoked', revoked_ms = $2          WHERE user_id = $1 AND state = 'active'",
    )
    .bind(user_id)
    .bind(now_ms())
    .execute(&mut *db)
    .await?;
    identity::create_key(db, user_id).await
}

/// The user id and password hash of a username in a domain (by path), if both exist.
pub async fn password_of(
    db: &mut AnyConnection,
    domain_path: &str,
    username: &str,
) -> CoreResult<Option<(String, String)>> {
    let Ok(domain) = identity::domain_by_path(db, domain_path).await else {
        return Ok(None);
    };
    let row: Option<(String, Option<String>)> = sqlx::query_as(
        "SELECT id, password_hash FROM users WHERE domain_id = $1 AND username = $2",
    )
    .bind(&domain.id)
    .bind(username)
    .fetch_optional(&mut *db)
    .await?;
    Ok(row.and_then(|(id, hash)| hash.map(|h| (id, h))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::identity::password_matches;

    #[test]
    fn passwords_match_their_hash_only() {
        let hash = identity::hash_password("s3cret").unwrap_or_default();
        assert!(password_matches("s3cret", &hash));
        assert!(!password_matches("s3cret ", &hash));
        assert!(!password_matches("s3cret", "not a hash"));
    }

    #[tokio::test]
    async fn renames_move_subtrees_and_deletes_check_use() {
        use crate::model::identity::Role;
        use crate::store::Store;

        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::open(&url).await.expect("a store");
        let mut db = store.pool.acquire().await.expect("a connection");
        identity::ensure_root_domain(&mut db).await.expect("ROOT");
        let eng = identity::create_domain(&mut db, "ROOT", "eng")
            .await
            .expect("eng");
        let web = identity::create_domain(&mut db, "ROOT/eng", "web")
            .await
            .expect("web");
        identity::create_domain(&mut db, "ROOT", "engineering")
            .await
            .expect("engineering");

        rename_domain(&mut db, &eng.id, "dev")
            .await
            .expect("a rename");
        let paths: Vec<String> = identity::list_domains(&store.pool)
            .await
            .expect("domains")
            .into_iter()
            .map(|d| d.path)
            .collect();
        assert!(paths.contains(&"ROOT/dev".to_owned()));
        assert!(paths.contains(&"ROOT/dev/web".to_owned()));
        assert!(
            paths.contains(&"ROOT/engineering".to_owned()),
            "a sibling keeps its path"
        );
        let taken = rename_domain(&mut db, &eng.id, "engineering").await;
        assert!(matches!(taken, Err(CoreError::AlreadyExists { .. })));

        assert_eq!(
            delete_domain(&mut db, &eng.id).await.expect("a check"),
            Removal::InUse(1)
        );
        let a = identity::create_account(&mut db, &web.id, "team", Role::User)
            .await
            .expect("an account");
        let u = identity::create_user(
            &mut db,
            &a,
            &identity::NewUser {
                username: "ann",
                password: None,
                firstname: "Ann",
                lastname: "A",
                email: "a@example.org",
            },
        )
        .await
        .expect("a user");
        let first = replace_keys(&mut db, &u.id).await.expect("keys");
        let second = replace_keys(&mut db, &u.id).await.expect("keys");
        let active = identity::active_key_of(&mut db, &u.id)
            .await
            .expect("a key");
        assert_eq!(active.map(|k| k.access_key), Some(second.access_key));
        assert_ne!(first.access_key, second.secret_key.expose());

        set_account_state(&mut db, &a.id, AccountState::Disabled)
            .await
            .expect("disabled");
        assert!(identity::principal_of(&mut db, &u.id)
            .await
            .expect("a lookup")
            .is_none());
        set_account_state(&mut db, &a.id, AccountState::Enabled)
            .await
            .expect("enabled");
        assert!(identity::principal_of(&mut db, &u.id)
            .await
            .expect("a lookup")
            .is_some());

        assert_eq!(
            delete_domain(&mut db, &web.id).await.expect("a check"),
            Removal::InUse(1)
        );
        assert_eq!(
            delete_account(&mut db, &a.id).await.expect("a delete"),
            Removal::Removed
        );
        assert_eq!(
            delete_domain(&mut db, &web.id).await.expect("a delete"),
            Removal::Removed
        );
        assert_eq!(
            delete_domain(&mut db, &eng.id).await.expect("a delete"),
            Removal::Removed
        );
    }
}
