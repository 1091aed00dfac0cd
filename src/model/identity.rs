//! Identity and tenancy: domains (a tree under ROOT), accounts in a domain (root admin,
//! domain admin or user), users of an account, and per user API key pairs. An API key is also
//! the EC2/S3 access key id and its secret key the secret access key. Passwords are kept only
//! as argon2 hashes; secret keys never leave this module except to authenticate a request or
//! to be shown once to the operator who created them.

use std::fmt;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::distributions::{Alphanumeric, DistString};
use rand::Rng;
use sqlx::{AnyConnection, AnyPool};

use crate::error::{CoreError, CoreResult, ResourceKind};
use crate::model::new_uuid;
use crate::now_ms;

/// The path of the root domain; child paths are `ROOT/name/...`.
pub const ROOT_PATH: &str = "ROOT";

/// What an account may do: CloudStack's account types 1, 2 and 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sees and manages everything.
    RootAdmin,
    /// Manages the accounts of its domain and the domains below it.
    DomainAdmin,
    /// Manages its own resources only.
    User,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RootAdmin => "root-admin",
            Self::DomainAdmin => "domain-admin",
            Self::User => "user",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "root-admin" | "admin" => Some(Self::RootAdmin),
            "domain-admin" => Some(Self::DomainAdmin),
            "user" => Some(Self::User),
            _ => None,
        }
    }
}

/// A secret string whose `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Self(s)
    }

    /// The secret itself, for signing checks and for showing it once to its owner.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Domain {
    pub id: String,
    pub name: String,
    pub path: String,
    pub parent_id: Option<String>,
    pub state: String,
    pub created_ms: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountRow {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub role: String,
    pub number: String,
    pub state: String,
    pub created_ms: i64,
}

/// An account with its role parsed.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub role: Role,
    /// The 12-digit number used as EC2 owner id and in ARNs.
    pub number: String,
    pub state: String,
    pub created_ms: i64,
}

impl TryFrom<AccountRow> for Account {
    type Error = CoreError;

    fn try_from(r: AccountRow) -> CoreResult<Self> {
        let role = Role::parse(&r.role).ok_or_else(|| {
            CoreError::Internal(format!("account {} has role {:?}", r.id, r.role))
        })?;
        Ok(Self {
            id: r.id,
            name: r.name,
            domain_id: r.domain_id,
            role,
            number: r.number,
            state: r.state,
            created_ms: r.created_ms,
        })
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: String,
    pub account_id: String,
    pub domain_id: String,
    pub username: String,
    pub firstname: String,
    pub lastname: String,
    pub email: String,
    pub state: String,
    pub created_ms: i64,
}

/// An API key as listed: never its secret.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKey {
    pub access_key: String,
    pub user_id: String,
    pub username: String,
    pub account_name: String,
    pub state: String,
    pub created_ms: i64,
}

/// A newly made key pair, shown once.
#[derive(Debug, Clone)]
pub struct KeyPair {
    pub access_key: String,
    pub secret_key: Secret,
}

/// Who is calling: the user, its account and the account's domain, all enabled.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub account: Account,
    pub domain: Domain,
}

impl Principal {
    pub fn is_root_admin(&self) -> bool {
        self.account.role == Role::RootAdmin
    }
}

const STATE_ENABLED: &str = "enabled";
const USER_COLUMNS: &str =
    "u.id, u.account_id, u.domain_id, u.username, u.firstname, u.lastname, u.email, u.state, \
     u.created_ms";

/// Checks a user-given name for a domain, account or user.
fn check_name(kind: ResourceKind, name: &str) -> CoreResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && !name.contains('/')
        && name.chars().all(|c| !c.is_control());
    if ok {
        Ok(())
    } else {
        Err(CoreError::InvalidParameter(format!(
            "'{name}' is not a valid {kind} name: use 1 to 255 printable characters without '/'"
        )))
    }
}

fn unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// Normalizes an operator's domain path: `ROOT`, `ROOT/a/b`, `/a/b/` and `a/b` all name
/// the same domain.
pub fn normalize_domain_path(path: &str) -> String {
    let trimmed = path.trim().trim_matches('/');
    let rest = trimmed
        .strip_prefix(ROOT_PATH)
        .unwrap_or(trimmed)
        .trim_start_matches('/');
    if rest.is_empty() {
        ROOT_PATH.to_owned()
    } else {
        format!("{ROOT_PATH}/{rest}")
    }
}

pub fn hash_password(password: &str) -> CoreResult<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| CoreError::Internal(format!("password hashing failed: {e}")))
}

/// True if `password` matches the Argon2 `hash`. Slow by design: call it on a blocking thread.
pub fn password_matches(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A generated password: 20 letters and digits.
pub fn generate_password() -> String {
    Alphanumeric.sample_string(&mut rand::rngs::OsRng, 20)
}

fn generate_key_pair() -> KeyPair {
    const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut rng = rand::rngs::OsRng;
    let tail: String = (0..18)
        .map(|_| char::from(UPPER[rng.gen_range(0..UPPER.len())]))
        .collect();
    KeyPair {
        access_key: format!("CK{tail}"),
        secret_key: Secret::new(Alphanumeric.sample_string(&mut rng, 40)),
    }
}

fn generate_account_number() -> String {
    let mut rng = rand::rngs::OsRng;
    // Never a leading zero, so the number keeps its 12 digits whatever reads it.
    format!(
        "{}{:011}",
        rng.gen_range(1..10),
        rng.gen_range(0..100_000_000_000u64)
    )
}

pub async fn domain_by_path(db: &mut AnyConnection, path: &str) -> CoreResult<Domain> {
    let path = normalize_domain_path(path);
    sqlx::query_as::<_, Domain>("SELECT * FROM domains WHERE path = $1")
        .bind(&path)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| CoreError::not_found(ResourceKind::Domain, path))
}

pub async fn domain_by_id(db: &mut AnyConnection, id: &str) -> CoreResult<Domain> {
    sqlx::query_as::<_, Domain>("SELECT * FROM domains WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| CoreError::not_found(ResourceKind::Domain, id))
}

pub async fn list_domains(db: &AnyPool) -> CoreResult<Vec<Domain>> {
    Ok(
        sqlx::query_as::<_, Domain>("SELECT * FROM domains ORDER BY path")
            .fetch_all(db)
            .await?,
    )
}

/// Creates ROOT if it is not there yet; answers it either way.
pub async fn ensure_root_domain(db: &mut AnyConnection) -> CoreResult<Domain> {
    if let Ok(root) = domain_by_path(db, ROOT_PATH).await {
        return Ok(root);
    }
    let root = Domain {
        id: new_uuid(),
        name: ROOT_PATH.to_owned(),
        path: ROOT_PATH.to_owned(),
        parent_id: None,
        state: STATE_ENABLED.to_owned(),
        created_ms: now_ms(),
    };
    insert_domain(db, &root).await?;
    Ok(root)
}

async fn insert_domain(db: &mut AnyConnection, d: &Domain) -> CoreResult<()> {
    sqlx::query(
        "INSERT INTO domains (id, name, path, parent_id, state, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&d.id)
    .bind(&d.name)
    .bind(&d.path)
    .bind(&d.parent_id)
    .bind(&d.state)
    .bind(d.created_ms)
    .execute(db)
    .await
    .map_err(|e| {
        if unique_violation(&e) {
            CoreError::AlreadyExists {
                kind: ResourceKind::Domain,
                name: d.path.clone(),
            }
        } else {
            e.into()
        }
    })?;
    Ok(())
}

/// Creates the domain `name` under the domain at `parent_path`.
pub async fn create_domain(
    db: &mut AnyConnection,
    parent_path: &str,
    name: &str,
) -> CoreResult<Domain> {
    check_name(ResourceKind::Domain, name)?;
    let parent = domain_by_path(db, parent_path).await?;
    let domain = Domain {
        id: new_uuid(),
        name: name.to_owned(),
        path: format!("{}/{name}", parent.path),
        parent_id: Some(parent.id),
        state: STATE_ENABLED.to_owned(),
        created_ms: now_ms(),
    };
    insert_domain(db, &domain).await?;
    Ok(domain)
}

pub async fn account_by_name(
    db: &mut AnyConnection,
    domain_id: &str,
    name: &str,
) -> CoreResult<Account> {
    sqlx::query_as::<_, AccountRow>("SELECT * FROM accounts WHERE domain_id = $1 AND name = $2")
        .bind(domain_id)
        .bind(name)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| CoreError::not_found(ResourceKind::Account, name))?
        .try_into()
}

pub async fn account_by_id(db: &mut AnyConnection, id: &str) -> CoreResult<Account> {
    sqlx::query_as::<_, AccountRow>("SELECT * FROM accounts WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| CoreError::not_found(ResourceKind::Account, id))?
        .try_into()
}

pub async fn list_accounts(db: &AnyPool) -> CoreResult<Vec<Account>> {
    sqlx::query_as::<_, AccountRow>("SELECT * FROM accounts ORDER BY created_ms, id")
        .fetch_all(db)
        .await?
        .into_iter()
        .map(Account::try_from)
        .collect()
}

pub async fn create_account(
    db: &mut AnyConnection,
    domain_id: &str,
    name: &str,
    role: Role,
) -> CoreResult<Account> {
    check_name(ResourceKind::Account, name)?;
    let account = Account {
        id: new_uuid(),
        name: name.to_owned(),
        domain_id: domain_id.to_owned(),
        role,
        number: generate_account_number(),
        state: STATE_ENABLED.to_owned(),
        created_ms: now_ms(),
    };
    sqlx::query(
        "INSERT INTO accounts (id, name, domain_id, role, number, state, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&account.id)
    .bind(&account.name)
    .bind(&account.domain_id)
    .bind(account.role.as_str())
    .bind(&account.number)
    .bind(&account.state)
    .bind(account.created_ms)
    .execute(db)
    .await
    .map_err(|e| {
        if unique_violation(&e) {
            CoreError::AlreadyExists {
                kind: ResourceKind::Account,
                name: name.to_owned(),
            }
        } else {
            e.into()
        }
    })?;
    Ok(account)
}

/// What a new user is made of; the password is optional (key-only users cannot log in).
pub struct NewUser<'a> {
    pub username: &'a str,
    pub password: Option<&'a str>,
    pub firstname: &'a str,
    pub lastname: &'a str,
    pub email: &'a str,
}

pub async fn create_user(
    db: &mut AnyConnection,
    account: &Account,
    new: &NewUser<'_>,
) -> CoreResult<User> {
    check_name(ResourceKind::User, new.username)?;
    let password_hash = new.password.map(hash_password).transpose()?;
    let user = User {
        id: new_uuid(),
        account_id: account.id.clone(),
        domain_id: account.domain_id.clone(),
        username: new.username.to_owned(),
        firstname: new.firstname.to_owned(),
        lastname: new.lastname.to_owned(),
        email: new.email.to_owned(),
        state: STATE_ENABLED.to_owned(),
        created_ms: now_ms(),
    };
    sqlx::query(
        "INSERT INTO users (id, account_id, domain_id, username, password_hash, firstname, \
         lastname, email, state, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&user.id)
    .bind(&user.account_id)
    .bind(&user.domain_id)
    .bind(&user.username)
    .bind(password_hash)
    .bind(&user.firstname)
    .bind(&user.lastname)
    .bind(&user.email)
    .bind(&user.state)
    .bind(user.created_ms)
    .execute(db)
    .await
    .map_err(|e| {
        if unique_violation(&e) {
            CoreError::AlreadyExists {
                kind: ResourceKind::User,
                name: new.username.to_owned(),
            }
        } else {
            e.into()
        }
    })?;
    Ok(user)
}

pub async fn user_by_name(
    db: &mut AnyConnection,
    domain_id: &str,
    username: &str,
) -> CoreResult<User> {
    sqlx::query_as::<_, User>(&format!(
        "SELECT {USER_COLUMNS} FROM users u WHERE u.domain_id = $1 AND u.username = $2"
    ))
    .bind(domain_id)
    .bind(username)
    .fetch_optional(db)
    .await?
    .ok_or_else(|| CoreError::not_found(ResourceKind::User, username))
}

pub async fn list_users(db: &AnyPool) -> CoreResult<Vec<User>> {
    Ok(sqlx::query_as::<_, User>(&format!(
        "SELECT {USER_COLUMNS} FROM users u ORDER BY u.created_ms, u.id"
    ))
    .fetch_all(db)
    .await?)
}

/// Makes a new key pair for the user; the secret is returned this once.
pub async fn create_key(db: &mut AnyConnection, user_id: &str) -> CoreResult<KeyPair> {
    let pair = generate_key_pair();
    sqlx::query(
        "INSERT INTO api_keys (access_key, secret_key, user_id, state, created_ms) \
         VALUES ($1, $2, $3, 'active', $4)",
    )
    .bind(&pair.access_key)
    .bind(pair.secret_key.expose())
    .bind(user_id)
    .bind(now_ms())
    .execute(db)
    .await?;
    Ok(pair)
}

/// The user's newest active key pair, secret included: for the owner or an admin only.
pub async fn active_key_of(db: &mut AnyConnection, user_id: &str) -> CoreResult<Option<KeyPair>> {
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT access_key, secret_key FROM api_keys WHERE user_id = $1 AND state = 'active' \
         ORDER BY created_ms DESC, access_key LIMIT 1",
    )
    .bind(user_id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(access_key, secret)| KeyPair {
        access_key,
        secret_key: Secret::new(secret),
    }))
}

pub async fn list_keys(db: &AnyPool) -> CoreResult<Vec<ApiKey>> {
    Ok(sqlx::query_as::<_, ApiKey>(
        "SELECT k.access_key, k.user_id, u.username, a.name AS account_name, k.state, \
         k.created_ms FROM api_keys k JOIN users u ON u.id = k.user_id \
         JOIN accounts a ON a.id = u.account_id ORDER BY k.created_ms, k.access_key",
    )
    .fetch_all(db)
    .await?)
}

/// Revokes a key: from now on every door refuses it.
pub async fn revoke_key(db: &mut AnyConnection, access_key: &str) -> CoreResult<()> {
    let done = sqlx::query(
        "UPDATE api_keys SET state = 'revoked', revoked_ms = $2 \
         WHERE access_key = $1 AND state = 'active'",
    )
    .bind(access_key)
    .bind(now_ms())
    .execute(db)
    .await?;
    if done.rows_affected() == 0 {
        return Err(CoreError::not_found(ResourceKind::ApiKey, access_key));
    }
    Ok(())
}

/// Loads the principal for a user, if the user, its account and its domain are all enabled.
pub async fn principal_of(db: &mut AnyConnection, user_id: &str) -> CoreResult<Option<Principal>> {
    let user = sqlx::query_as::<_, User>(&format!(
        "SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1"
    ))
    .bind(user_id)
    .fetch_optional(&mut *db)
    .await?;
    let Some(user) = user else { return Ok(None) };
    let account = account_by_id(db, &user.account_id).await?;
    let domain = domain_by_id(db, &account.domain_id).await?;
    let enabled = [&user.state, &account.state, &domain.state]
        .iter()
        .all(|s| *s == STATE_ENABLED);
    Ok(enabled.then_some(Principal {
        user,
        account,
        domain,
    }))
}

/// The secret and principal behind an access key, if the key is active and its owner enabled.
/// Every signed request asks this, so it is one query (one round trip to the store).
pub async fn authenticate_key(
    db: &mut AnyConnection,
    access_key: &str,
) -> CoreResult<Option<(Principal, Secret)>> {
    let row: Option<KeyOwnerRow> = sqlx::query_as(
        "SELECT k.secret_key, \
         u.id AS u_id, u.account_id AS u_account_id, u.domain_id AS u_domain_id, \
         u.username AS u_username, u.firstname AS u_firstname, u.lastname AS u_lastname, \
         u.email AS u_email, u.state AS u_state, u.created_ms AS u_created_ms, \
         a.id AS a_id, a.name AS a_name, a.domain_id AS a_domain_id, a.role AS a_role, \
         a.number AS a_number, a.state AS a_state, a.created_ms AS a_created_ms, \
         d.id AS d_id, d.name AS d_name, d.path AS d_path, d.parent_id AS d_parent_id, \
         d.state AS d_state, d.created_ms AS d_created_ms \
         FROM api_keys k JOIN users u ON u.id = k.user_id \
         JOIN accounts a ON a.id = u.account_id JOIN domains d ON d.id = a.domain_id \
         WHERE k.access_key = $1 AND k.state = 'active'",
    )
    .bind(access_key)
    .fetch_optional(&mut *db)
    .await?;
    let Some(r) = row else {
        return Ok(None);
    };
    let user = User {
        id: r.u_id,
        account_id: r.u_account_id,
        domain_id: r.u_domain_id,
        username: r.u_username,
        firstname: r.u_firstname,
        lastname: r.u_lastname,
        email: r.u_email,
        state: r.u_state,
        created_ms: r.u_created_ms,
    };
    let account = Account::try_from(AccountRow {
        id: r.a_id,
        name: r.a_name,
        domain_id: r.a_domain_id,
        role: r.a_role,
        number: r.a_number,
        state: r.a_state,
        created_ms: r.a_created_ms,
    })?;
    let domain = Domain {
        id: r.d_id,
        name: r.d_name,
        path: r.d_path,
        parent_id: r.d_parent_id,
        state: r.d_state,
        created_ms: r.d_created_ms,
    };
    let enabled = [&user.state, &account.state, &domain.state]
        .iter()
        .all(|s| *s == STATE_ENABLED);
    Ok(enabled.then(|| {
        (
            Principal {
                user,
                account,
                domain,
            },
            Secret::new(r.secret_key),
        )
    }))
}

/// An API key's secret with its user, account and domain, as one row.
#[derive(sqlx::FromRow)]
struct KeyOwnerRow {
    secret_key: String,
    u_id: String,
    u_account_id: String,
    u_domain_id: String,
    u_username: String,
    u_firstname: String,
    u_lastname: String,
    u_email: String,
    u_state: String,
    u_created_ms: i64,
    a_id: String,
    a_name: String,
    a_domain_id: String,
    a_role: String,
    a_number: String,
    a_state: String,
    a_created_ms: i64,
    d_id: String,
    d_name: String,
    d_path: String,
    d_parent_id: Option<String>,
    d_state: String,
    d_created_ms: i64,
}

/// The principal for a username and password in a domain, if they match and all is enabled.
pub async fn authenticate_password(
    db: &mut AnyConnection,
    domain_path: &str,
    username: &str,
    password: &str,
) -> CoreResult<Option<Principal>> {
    let Ok(domain) = domain_by_path(db, domain_path).await else {
        return Ok(None);
    };
    let row: Option<(String, Option<String>)> = sqlx::query_as(
        "SELECT id, password_hash FROM users WHERE domain_id = $1 AND username = $2",
    )
    .bind(&domain.id)
    .bind(username)
    .fetch_optional(&mut *db)
    .await?;
    let Some((user_id, Some(hash))) = row else {
        return Ok(None);
    };
    if !password_matches(password, &hash) {
        return Ok(None);
    }
    principal_of(db, &user_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_paths_normalize() {
        for p in ["ROOT", "/", "", "ROOT/", "/ROOT/"] {
            assert_eq!(normalize_domain_path(p), "ROOT", "{p:?}");
        }
        for p in ["ROOT/eng", "/eng/", "eng", "ROOT/eng/"] {
            assert_eq!(normalize_domain_path(p), "ROOT/eng", "{p:?}");
        }
    }

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("s3cret").unwrap_or_default();
        assert!(password_matches("s3cret", &h));
        assert!(!password_matches("s3cret!", &h));
        assert!(!password_matches("s3cret", "not a hash"));
    }

    #[test]
    fn generated_credentials_have_their_shapes() {
        let pair = generate_key_pair();
        assert_eq!(pair.access_key.len(), 20);
        assert_eq!(pair.secret_key.expose().len(), 40);
        assert_eq!(format!("{:?}", pair.secret_key), "Secret(***)");
        let n = generate_account_number();
        assert_eq!(n.len(), 12);
        assert!(n.chars().all(|c| c.is_ascii_digit()));
    }
}
