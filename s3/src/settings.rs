//! Tag sets and ACLs in S3's terms: S3's tag limits (10 per object, 50 per bucket, keys of
//! 1 to 128 characters, values up to 256, no duplicate keys, no `aws:` prefix; breaking one is
//! `InvalidTag`, 400), the `x-amz-tagging` header's URL-encoded form, the grants a canned ACL
//! stands for, and the one kind of AccessControlPolicy body we accept: one that restates a
//! canned ACL.

use s3s::dto::{AccessControlPolicy, Grant, Grantee, Permission, Tag, TagSet, Type};
use s3s::{s3_error, S3Result};

use crate::port::Acl;

/// The most tags an object can have.
pub const MAX_OBJECT_TAGS: usize = 10;
/// The most tags a bucket can have.
pub const MAX_BUCKET_TAGS: usize = 50;
const MAX_KEY_CHARS: usize = 128;
const MAX_VALUE_CHARS: usize = 256;

const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
const AUTHENTICATED: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

pub type Tags = Vec<(String, String)>;

/// Checks a tag set against S3's limits.
pub fn check_tags(tags: &[(String, String)], max: usize) -> S3Result<()> {
    if tags.len() > max {
        return Err(s3_error!(
            InvalidTag,
            "A tag set has at most {max} tags; this one has {}.",
            tags.len()
        ));
    }
    for (i, (key, value)) in tags.iter().enumerate() {
        let chars = key.chars().count();
        if chars == 0 || chars > MAX_KEY_CHARS {
            return Err(s3_error!(
                InvalidTag,
                "The tag key '{key}' must be 1 to {MAX_KEY_CHARS} characters long, not {chars}."
            ));
        }
        if value.chars().count() > MAX_VALUE_CHARS {
            return Err(s3_error!(
                InvalidTag,
                "The value of the tag '{key}' is longer than {MAX_VALUE_CHARS} characters."
            ));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(s3_error!(
                InvalidTag,
                "The tag key '{key}' uses the reserved prefix 'aws:'."
            ));
        }
        if tags[..i].iter().any(|(k, _)| k == key) {
            return Err(s3_error!(
                InvalidTag,
                "The tag key '{key}' appears more than once; tag keys must be unique."
            ));
        }
    }
    Ok(())
}

/// A tag set from an XML body, checked.
pub fn from_set(set: TagSet, max: usize) -> S3Result<Tags> {
    let tags: Tags = set
        .into_iter()
        .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
        .collect();
    check_tags(&tags, max)?;
    Ok(tags)
}

/// The tag set of an `x-amz-tagging` header (`k1=v1&k2=v2`, URL-encoded), checked.
pub fn from_header(header: Option<&str>) -> S3Result<Tags> {
    let Some(header) = header.filter(|h| !h.is_empty()) else {
        return Ok(Vec::new());
    };
    let decode = |s: &str| -> S3Result<String> {
        let spaced = s.replace('+', " ");
        percent_encoding::percent_decode_str(&spaced)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| {
                s3_error!(
                    InvalidArgument,
                    "The x-amz-tagging header '{header}' does not decode to UTF-8."
                )
            })
    };
    let mut tags = Vec::new();
    for pair in header.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        tags.push((decode(key)?, decode(value)?));
    }
    check_tags(&tags, MAX_OBJECT_TAGS)?;
    Ok(tags)
}

/// A stored tag set as S3's XML list.
pub fn to_set(tags: &[(String, String)]) -> TagSet {
    tags.iter()
        .map(|(k, v)| Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect()
}

fn owner_grant(owner_id: &str) -> Grant {
    Grant {
        grantee: Some(Grantee {
            id: Some(owner_id.to_owned()),
            type_: Type::from_static(Type::CANONICAL_USER),
            display_name: None,
            email_address: None,
            uri: None,
        }),
        permission: Some(Permission::from_static(Permission::FULL_CONTROL)),
    }
}

fn group_grant(uri: &str, permission: &'static str) -> Grant {
    Grant {
        grantee: Some(Grantee {
            id: None,
            type_: Type::from_static(Type::GROUP),
            display_name: None,
            email_address: None,
            uri: Some(uri.to_owned()),
        }),
        permission: Some(Permission::from_static(permission)),
    }
}

/// The grants a canned ACL stands for.
pub fn grants(owner_id: &str, acl: Acl) -> Vec<Grant> {
    let mut grants = vec![owner_grant(owner_id)];
    match acl {
        Acl::Private => {}
        Acl::PublicRead => grants.push(group_grant(ALL_USERS, Permission::READ)),
        Acl::PublicReadWrite => {
            grants.push(group_grant(ALL_USERS, Permission::READ));
            grants.push(group_grant(ALL_USERS, Permission::WRITE));
        }
        Acl::AuthenticatedRead => grants.push(group_grant(AUTHENTICATED, Permission::READ)),
    }
    grants
}

/// The canned ACL an AccessControlPolicy body restates, or 501 for any other policy.
pub fn from_policy(policy: &AccessControlPolicy, owner_id: &str) -> S3Result<Acl> {
    let not_canned = || {
        s3_error!(
            NotImplemented,
            "Only ACLs that restate a canned ACL (the owner's FULL_CONTROL plus READ or WRITE for \
             the AllUsers or AuthenticatedUsers group) are supported; grants to other accounts, \
             e-mail addresses or other permissions are not. Use x-amz-acl."
        )
    };
    // Each grant as (grantee, permission), with the owner as "owner".
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for grant in policy.grants.as_deref().unwrap_or_default() {
        let grantee = grant.grantee.as_ref().ok_or_else(not_canned)?;
        let permission = grant
            .permission
            .as_ref()
            .map(Permission::as_str)
            .ok_or_else(not_canned)?;
        let who = match grantee.type_.as_str() {
            Type::CANONICAL_USER if grantee.id.as_deref() == Some(owner_id) => "owner",
            Type::GROUP => match grantee.uri.as_deref() {
                Some(ALL_USERS) => "all",
                Some(AUTHENTICATED) => "authenticated",
                _ => return Err(not_canned()),
            },
            _ => return Err(not_canned()),
        };
        if !seen.contains(&(who, permission)) {
            seen.push((who, permission));
        }
    }
    seen.sort_unstable();
    match seen.as_slice() {
        [("owner", Permission::FULL_CONTROL)] => Ok(Acl::Private),
        [("all", Permission::READ), ("owner", Permission::FULL_CONTROL)] => Ok(Acl::PublicRead),
        [("all", Permission::READ), ("all", Permission::WRITE), ("owner", Permission::FULL_CONTROL)] => {
            Ok(Acl::PublicReadWrite)
        }
        [("authenticated", Permission::READ), ("owner", Permission::FULL_CONTROL)] => {
            Ok(Acl::AuthenticatedRead)
        }
        _ => Err(not_canned()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly
mod tests {
    use super::*;

    fn t(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    #[test]
    fn tag_limits() {
        assert!(check_tags(&[t("a", "b")], 10).is_ok());
        let many: Tags = (0..11).map(|i| t(&format!("k{i}"), "v")).collect();
        let err = check_tags(&many, 10).unwrap_err();
        assert_eq!(err.code().as_str(), "InvalidTag");
        assert!(check_tags(&many, 50).is_ok());
        assert!(check_tags(&[t(&"k".repeat(128), &"v".repeat(256))], 10).is_ok());
        assert!(check_tags(&[t(&"k".repeat(129), "v")], 10).is_err());
        assert!(check_tags(&[t("k", &"v".repeat(257))], 10).is_err());
        assert!(check_tags(&[t("", "v")], 10).is_err());
        assert!(check_tags(&[t("a", "1"), t("a", "2")], 10).is_err());
        assert!(check_tags(&[t("aws:x", "1")], 10).is_err());
    }

    #[test]
    fn tagging_header_decodes() {
        assert_eq!(
            from_header(Some("a=1&b%20c=d+e&empty=")).unwrap(),
            vec![t("a", "1"), t("b c", "d e"), t("empty", "")]
        );
        assert!(from_header(None).unwrap().is_empty());
        assert!(from_header(Some("a=1&a=2")).is_err());
    }

    #[test]
    fn policies_that_restate_canned_acls() {
        for acl in [
            Acl::Private,
            Acl::PublicRead,
            Acl::PublicReadWrite,
            Acl::AuthenticatedRead,
        ] {
            let policy = AccessControlPolicy {
                grants: Some(grants("me", acl)),
                owner: None,
            };
            assert_eq!(from_policy(&policy, "me").unwrap(), acl);
            let err = from_policy(&policy, "someone else").unwrap_err();
            assert_eq!(err.code().as_str(), "NotImplemented");
        }
    }
}
