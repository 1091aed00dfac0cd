//! Pieces several actions parse and write alike: `TagSpecification.N`, `Tag.N`, instance id
//! lists, permission changes (createVolumePermission, launchPermission), and the
//! `<return>true</return>` answer of actions without output.

use super::snapshots::PermissionChange;
use super::{answer, instances::is_instance_id};
use crate::error::{Code, Ec2Error, Resource};
use crate::query::Params;
use crate::types::Tag;
use crate::xml;

/// The tags of `TagSpecification.N` for one resource type; a specification for a type the
/// action does not create is refused, naming the types it does.
pub fn take_tag_specs(
    p: &mut Params,
    allowed: &[&str],
) -> Result<Vec<(String, Vec<Tag>)>, Ec2Error> {
    let mut out = Vec::new();
    for members in p.take_structs("TagSpecification")? {
        let mut sub = Params::from_map(members);
        let kind = sub.take_required("ResourceType")?;
        if !allowed.contains(&kind.as_str()) {
            return Err(Ec2Error::invalid_value(format!(
                "'{kind}' is not a valid taggable resource type for this operation; it takes {}.",
                allowed.join(", ")
            )));
        }
        let tags = take_tags(&mut sub, "Tag")?;
        sub.finish(&["ResourceType", "Tag"])?;
        out.push((kind, tags));
    }
    Ok(out)
}

/// All tags specified for one resource type.
pub fn tags_for(specs: &[(String, Vec<Tag>)], kind: &str) -> Vec<Tag> {
    specs
        .iter()
        .filter(|(k, _)| k == kind)
        .flat_map(|(_, t)| t.iter().cloned())
        .collect()
}

/// `Prefix.N.Key` / `Prefix.N.Value` pairs (a missing value is empty).
pub fn take_tags(p: &mut Params, prefix: &str) -> Result<Vec<Tag>, Ec2Error> {
    let mut tags = Vec::new();
    for members in p.take_structs(prefix)? {
        let mut sub = Params::from_map(members);
        let key = sub.take_required("Key")?;
        check_tag_key(&key)?;
        let value = sub.take("Value").unwrap_or_default();
        if value.chars().count() > 256 {
            return Err(Ec2Error::invalid_value(format!(
                "The tag value of '{key}' is longer than 256 characters."
            )));
        }
        sub.finish(&["Key", "Value"])?;
        tags.push(Tag { key, value });
    }
    Ok(tags)
}

pub fn check_tag_key(key: &str) -> Result<(), Ec2Error> {
    if key.is_empty() || key.chars().count() > 128 {
        return Err(Ec2Error::invalid_value(format!(
            "The tag key '{key}' must be 1 to 128 characters long."
        )));
    }
    if key.starts_with("aws:") {
        return Err(Ec2Error::invalid_value(format!(
            "The tag key '{key}' starts with 'aws:', which is reserved for AWS use."
        )));
    }
    Ok(())
}

/// `InstanceId.N`, at least one, each of the right form.
pub fn take_instance_ids(p: &mut Params) -> Result<Vec<String>, Ec2Error> {
    let ids = p.take_list("InstanceId")?;
    if ids.is_empty() {
        return Err(Ec2Error::new(
            Code::MissingParameter,
            "The request must contain the parameter InstanceId.1.",
        ));
    }
    for id in &ids {
        check_instance_id(id)?;
    }
    Ok(ids)
}

pub fn check_instance_id(id: &str) -> Result<(), Ec2Error> {
    if is_instance_id(id) {
        Ok(())
    } else {
        Err(Ec2Error::new(
            Code::Malformed(Resource::Instance),
            format!("Invalid id: \"{id}\" (expecting \"i-...\")"),
        ))
    }
}

/// A grantee of `{Attribute}.Add.N` / `.Remove.N`: `Group` all or a `UserId`.
fn take_grantees(p: &mut Params, prefix: &str) -> Result<Vec<String>, Ec2Error> {
    let mut out = Vec::new();
    for members in p.take_structs(prefix)? {
        let mut sub = Params::from_map(members);
        let group = sub.take("Group");
        let user = sub.take("UserId");
        if sub.peek("OrganizationArn").is_some() || sub.peek("OrganizationalUnitArn").is_some() {
            return Err(Ec2Error::new(
                Code::UnsupportedOperation,
                "Sharing with organizations is not supported: Cirrus has no AWS Organizations; \
                 share with account numbers (UserId) or the group all.",
            ));
        }
        sub.finish(&["Group", "UserId"])?;
        match (group, user) {
            (Some(g), None) if g == "all" => out.push(g),
            (Some(g), None) => {
                return Err(Ec2Error::invalid_value(format!(
                    "The group '{g}' is not valid: the only group is all."
                )))
            }
            (None, Some(u)) => out.push(check_account_number(u)?),
            _ => {
                return Err(Ec2Error::new(
                    Code::InvalidParameterCombination,
                    format!("Each {prefix} item takes either a Group or a UserId."),
                ))
            }
        }
    }
    Ok(out)
}

fn check_account_number(u: String) -> Result<String, Ec2Error> {
    if u.len() == 12 && u.bytes().all(|b| b.is_ascii_digit()) {
        Ok(u)
    } else {
        Err(Ec2Error::invalid_value(format!(
            "The user ID '{u}' is not a 12-digit account number."
        )))
    }
}

/// A permission change in either form: `{attribute}.Add.N` / `.Remove.N` items, or the older
/// `OperationType` with `UserId.N` and `UserGroup.N`. Empty when neither is given.
pub fn take_permission_change(
    p: &mut Params,
    attribute: &str,
) -> Result<PermissionChange, Ec2Error> {
    let mut change = PermissionChange {
        add: take_grantees(p, &format!("{attribute}.Add"))?,
        remove: take_grantees(p, &format!("{attribute}.Remove"))?,
        reset: false,
    };
    let users = p.take_list("UserId")?;
    let groups = p.take_list("UserGroup")?;
    if users.is_empty() && groups.is_empty() {
        return Ok(change);
    }
    let mut named = Vec::new();
    for u in users {
        named.push(check_account_number(u)?);
    }
    for g in groups {
        if g != "all" {
            return Err(Ec2Error::invalid_value(format!(
                "The group '{g}' is not valid: the only group is all."
            )));
        }
        named.push(g);
    }
    match p.take("OperationType").as_deref() {
        Some("add") => change.add.extend(named),
        Some("remove") => change.remove.extend(named),
        Some(other) => {
            return Err(Ec2Error::invalid_value(format!(
                "Value ({other}) for parameter operationType is invalid: it must be add or \
                 remove."
            )))
        }
        None => {
            return Err(Ec2Error::new(
                Code::MissingParameter,
                "The request must contain the parameter OperationType.",
            ))
        }
    }
    Ok(change)
}

/// The answer of an action whose output is only `return`.
pub fn returned_true(action: &str, request_id: &str) -> String {
    answer(action, request_id, |w| w.bool_element("return", true))
}

/// Writes a `tagSet`.
pub fn write_tags(w: &mut xml::Writer, tags: &[Tag]) {
    w.list("tagSet", tags, |w, t| {
        w.text_element("key", &t.key);
        w.text_element("value", &t.value);
    });
}
