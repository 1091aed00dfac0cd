//! Identity administration beyond what first run and the `cirrus admin` CLI need: the steps of
//! a password login split so the slow hash check can run off the async runtime, and (for the
//! native API's account management) enabling, disabling, updating and deleting domains,
//! accounts and users with the checks that keep the tree whole.

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use sqlx::AnyConnection;

use crate::error::CoreResult;
use crate::model::identity;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_match_their_hash_only() {
        let hash = identity::hash_password("s3cret").unwrap_or_default();
        assert!(password_matches("s3cret", &hash));
        assert!(!password_matches("s3cret ", &hash));
        assert!(!password_matches("s3cret", "not a hash"));
    }
}
