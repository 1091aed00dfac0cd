//! SSH key pairs: a named public key an account launches instances with. The cloud makes new
//! pairs (RSA 2048 or Ed25519; the private key is handed over once and never stored) or takes
//! an OpenSSH public key the user already has. Fingerprints are computed as AWS computes them,
//! so a client comparing with its own copy of the key agrees: a made RSA key is the SHA-1 of its
//! PKCS#8 private key, an imported RSA key the MD5 of its DER public key (both colon-separated
//! hex), and an Ed25519 key the base64 SHA-256 of its OpenSSH public key blob.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use md5::Md5;
use rand::RngCore;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, AnyPool};

use crate::error::{CoreError, CoreResult};
use crate::model::{new_ec2_id, new_uuid};
use crate::now_ms;

const RSA_BITS: usize = 2048;

/// The kinds of key the cloud makes and takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Rsa,
    Ed25519,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rsa => "rsa",
            Self::Ed25519 => "ed25519",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "rsa" => Some(Self::Rsa),
            "ed25519" => Some(Self::Ed25519),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyPair {
    pub id: String,
    pub ec2_id: String,
    pub account_id: String,
    pub name: String,
    pub key_type: String,
    pub fingerprint: String,
    /// The OpenSSH public key line (`ssh-rsa AAAA...`).
    pub public_key: String,
    pub created_ms: i64,
}

/// A public key ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub kind: KeyKind,
    pub openssh: String,
    pub fingerprint: String,
}

/// A freshly made pair: the public half to store and the private key to hand over once.
pub struct Generated {
    pub public: PublicKey,
    /// PEM: `RSA PRIVATE KEY` (PKCS#1) for RSA, `OPENSSH PRIVATE KEY` for Ed25519.
    pub private_pem: String,
}

impl std::fmt::Debug for Generated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generated")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The MD5 fingerprint of an OpenSSH public key line, in colon hex (`ssh-keygen -E md5`): the
/// one CloudStack shows and its clients compute. `None` if the line does not decode.
pub fn openssh_md5_fingerprint(public_key: &str) -> Option<String> {
    let blob = STANDARD
        .decode(public_key.split_whitespace().nth(1)?)
        .ok()?;
    Some(colon_hex(&Md5::digest(&blob)))
}

fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// An SSH mpint: big-endian, with a leading zero when the top bit is set.
fn put_mpint(out: &mut Vec<u8>, n: &BigUint) {
    let mut bytes = n.to_bytes_be();
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        bytes.insert(0, 0);
    }
    put_string(out, &bytes);
}

fn rsa_blob(key: &RsaPublicKey) -> Vec<u8> {
    let mut blob = Vec::new();
    put_string(&mut blob, b"ssh-rsa");
    put_mpint(&mut blob, key.e());
    put_mpint(&mut blob, key.n());
    blob
}

fn ed25519_blob(public: &[u8]) -> Vec<u8> {
    let mut blob = Vec::new();
    put_string(&mut blob, b"ssh-ed25519");
    put_string(&mut blob, public);
    blob
}

fn ed25519_fingerprint(blob: &[u8]) -> String {
    STANDARD.encode(Sha256::digest(blob))
}

fn internal(what: &str) -> impl Fn(rsa::pkcs8::Error) -> CoreError + '_ {
    move |e| CoreError::Internal(format!("cannot encode the {what}: {e}"))
}

/// Makes a new key pair of the kind asked for.
pub fn generate(kind: KeyKind) -> CoreResult<Generated> {
    match kind {
        KeyKind::Rsa => {
            let private = RsaPrivateKey::new(&mut rand::rngs::OsRng, RSA_BITS)
                .map_err(|e| CoreError::Internal(format!("cannot make an RSA key: {e}")))?;
            let public = RsaPublicKey::from(&private);
            let pkcs8 = private
                .to_pkcs8_der()
                .map_err(internal("RSA private key"))?;
            let pem = private.to_pkcs1_pem(LineEnding::LF).map_err(|e| {
                CoreError::Internal(format!("cannot encode the RSA private key: {e}"))
            })?;
            Ok(Generated {
                public: PublicKey {
                    kind,
                    openssh: format!("ssh-rsa {}", STANDARD.encode(rsa_blob(&public))),
                    fingerprint: colon_hex(&Sha1::digest(pkcs8.as_bytes())),
                },
                private_pem: pem.to_string(),
            })
        }
        KeyKind::Ed25519 => {
            let mut seed = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut seed);
            let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed)
                .map_err(|e| CoreError::Internal(format!("cannot make an Ed25519 key: {e}")))?;
            let public = ring::signature::KeyPair::public_key(&pair)
                .as_ref()
                .to_vec();
            let blob = ed25519_blob(&public);
            Ok(Generated {
                public: PublicKey {
                    kind,
                    openssh: format!("ssh-ed25519 {}", STANDARD.encode(&blob)),
                    fingerprint: ed25519_fingerprint(&blob),
                },
                private_pem: openssh_private_ed25519(&seed, &public, &blob),
            })
        }
    }
}

/// The unencrypted `openssh-key-v1` form of an Ed25519 key.
fn openssh_private_ed25519(seed: &[u8; 32], public: &[u8], blob: &[u8]) -> String {
    let mut check = [0u8; 4];
    rand::rngs::OsRng.fill_bytes(&mut check);
    let mut private = Vec::new();
    private.extend_from_slice(&check);
    private.extend_from_slice(&check);
    put_string(&mut private, b"ssh-ed25519");
    put_string(&mut private, public);
    let mut secret = seed.to_vec();
    secret.extend_from_slice(public);
    put_string(&mut private, &secret);
    put_string(&mut private, b"");
    let mut pad = 1u8;
    while private.len() % 8 != 0 {
        private.push(pad);
        pad += 1;
    }
    let mut body = b"openssh-key-v1\0".to_vec();
    put_string(&mut body, b"none");
    put_string(&mut body, b"none");
    put_string(&mut body, b"");
    body.extend_from_slice(&1u32.to_be_bytes());
    put_string(&mut body, blob);
    put_string(&mut body, &private);
    let text = STANDARD.encode(&body);
    let mut pem = String::from("-----BEGIN OPENSSH PRIVATE KEY-----\n");
    for chunk in text.as_bytes().chunks(70) {
        pem.push_str(&String::from_utf8_lossy(chunk));
        pem.push('\n');
    }
    pem.push_str("-----END OPENSSH PRIVATE KEY-----\n");
    pem
}

/// Why a public key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadPublicKey(pub String);

fn read_string<'a>(blob: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    let s = blob.get(4..4 + len)?;
    *blob = &blob[4 + len..];
    Some(s)
}

/// Reads an OpenSSH public key line (`ssh-rsa AAAA... comment` or `ssh-ed25519 ...`).
pub fn parse_openssh(text: &str) -> Result<PublicKey, BadPublicKey> {
    let mut parts = text.split_whitespace();
    let (Some(kind), Some(data)) = (parts.next(), parts.next()) else {
        return Err(BadPublicKey(
            "the key is not an OpenSSH public key ('ssh-rsa AAAA...' or 'ssh-ed25519 AAAA...')"
                .into(),
        ));
    };
    let blob = STANDARD
        .decode(data)
        .map_err(|_| BadPublicKey("the key's base64 part does not decode".into()))?;
    let mut rest = blob.as_slice();
    let named = read_string(&mut rest).unwrap_or_default();
    if named != kind.as_bytes() {
        return Err(BadPublicKey(format!(
            "the key says it is '{kind}' but its data is of another kind"
        )));
    }
    let truncated = || BadPublicKey(format!("the {kind} key's data is truncated"));
    match kind {
        "ssh-rsa" => {
            let e = read_string(&mut rest).ok_or_else(truncated)?;
            let n = read_string(&mut rest).ok_or_else(truncated)?;
            let key = RsaPublicKey::new(BigUint::from_bytes_be(n), BigUint::from_bytes_be(e))
                .map_err(|e| BadPublicKey(format!("the RSA key is not usable: {e}")))?;
            if key.size() * 8 < 1024 {
                return Err(BadPublicKey(format!(
                    "the RSA key has {} bits; at least 1024 are needed",
                    key.size() * 8
                )));
            }
            let der = key
                .to_public_key_der()
                .map_err(|e| BadPublicKey(format!("the RSA key cannot be encoded: {e}")))?;
            Ok(PublicKey {
                kind: KeyKind::Rsa,
                openssh: format!("ssh-rsa {}", STANDARD.encode(&blob)),
                fingerprint: colon_hex(&Md5::digest(der.as_bytes())),
            })
        }
        "ssh-ed25519" => {
            let public = read_string(&mut rest).ok_or_else(truncated)?;
            if public.len() != 32 {
                return Err(BadPublicKey("an Ed25519 public key has 32 bytes".into()));
            }
            Ok(PublicKey {
                kind: KeyKind::Ed25519,
                openssh: format!("ssh-ed25519 {}", STANDARD.encode(&blob)),
                fingerprint: ed25519_fingerprint(&blob),
            })
        }
        other => Err(BadPublicKey(format!(
            "keys of type '{other}' are not supported; use ssh-rsa or ssh-ed25519"
        ))),
    }
}

/// Stores a key pair under a name; `None` if the account already has a pair of that name.
pub async fn insert(
    db: &mut AnyConnection,
    account_id: &str,
    name: &str,
    key: &PublicKey,
) -> CoreResult<Option<KeyPair>> {
    if by_name(db, account_id, name).await?.is_some() {
        return Ok(None);
    }
    let pair = KeyPair {
        id: new_uuid(),
        ec2_id: new_ec2_id("key"),
        account_id: account_id.to_owned(),
        name: name.to_owned(),
        key_type: key.kind.as_str().to_owned(),
        fingerprint: key.fingerprint.clone(),
        public_key: key.openssh.clone(),
        created_ms: now_ms(),
    };
    sqlx::query(
        "INSERT INTO ssh_key_pairs (id, ec2_id, account_id, name, key_type, fingerprint, \
         public_key, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&pair.id)
    .bind(&pair.ec2_id)
    .bind(&pair.account_id)
    .bind(&pair.name)
    .bind(&pair.key_type)
    .bind(&pair.fingerprint)
    .bind(&pair.public_key)
    .bind(pair.created_ms)
    .execute(db)
    .await?;
    Ok(Some(pair))
}

pub async fn by_name(
    db: &mut AnyConnection,
    account_id: &str,
    name: &str,
) -> CoreResult<Option<KeyPair>> {
    Ok(
        sqlx::query_as("SELECT * FROM ssh_key_pairs WHERE account_id = $1 AND name = $2")
            .bind(account_id)
            .bind(name)
            .fetch_optional(db)
            .await?,
    )
}

/// The account's key pairs, by name.
pub async fn list_for_account(db: &AnyPool, account_id: &str) -> CoreResult<Vec<KeyPair>> {
    Ok(
        sqlx::query_as("SELECT * FROM ssh_key_pairs WHERE account_id = $1 ORDER BY name")
            .bind(account_id)
            .fetch_all(db)
            .await?,
    )
}

/// Deletes a pair (and its tags); instances launched with it keep their key.
pub async fn delete(db: &mut AnyConnection, pair: &KeyPair) -> CoreResult<()> {
    for sql in [
        "DELETE FROM tags WHERE resource_id = $1",
        "DELETE FROM ssh_key_pairs WHERE id = $1",
    ] {
        sqlx::query(sql).bind(&pair.id).execute(&mut *db).await?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly
mod tests {
    use super::*;

    #[test]
    fn the_md5_fingerprint_is_ssh_keygens() {
        // `ssh-keygen -E md5 -lf` of this key.
        let line =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGATO2/H34GxDoie05eKteDb8N4yScKEpRNYdvLYsQK/ \
                    golden@cirrus";
        assert_eq!(
            openssh_md5_fingerprint(line).as_deref(),
            Some("0c:3b:a2:12:cd:15:58:ec:8f:5d:ff:38:08:54:91:1c")
        );
        assert_eq!(openssh_md5_fingerprint("ssh-rsa !!!"), None);
    }

    #[test]
    fn made_keys_read_back_with_the_same_fingerprint_kind() {
        let ed = generate(KeyKind::Ed25519).unwrap();
        assert!(ed
            .private_pem
            .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"));
        let back = parse_openssh(&format!("{} me@host", ed.public.openssh)).unwrap();
        assert_eq!(back, ed.public);
        assert_eq!(ed.public.fingerprint.len(), 44);

        let rsa = generate(KeyKind::Rsa).unwrap();
        assert!(rsa
            .private_pem
            .starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        assert_eq!(rsa.public.fingerprint.len(), 20 * 3 - 1);
        let imported = parse_openssh(&rsa.public.openssh).unwrap();
        // Imported RSA keys use the MD5 of the public key, as AWS does.
        assert_eq!(imported.fingerprint.len(), 16 * 3 - 1);
        assert_eq!(imported.openssh, rsa.public.openssh);
    }

    #[test]
    fn bad_public_keys() {
        for bad in [
            "",
            "ssh-rsa",
            "ssh-rsa !!!",
            "ssh-dss AAAAB3NzaC1kc3MAAAA=",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAAQA=",
        ] {
            assert!(parse_openssh(bad).is_err(), "{bad}");
        }
    }
}
