//! The model: the resources of the cloud as the core sees them, in the core's own terms (zone,
//! offering, template, instance, ...), each with the queries that read and write its tables.
//! Nothing here knows an API: the doors' translations turn these into EC2 or CloudStack shapes.

pub mod api_job;
pub mod event;
pub mod group_members;
pub mod identity;
pub mod identity_admin;
pub mod infra;
pub mod instance;
pub mod instance_edit;
pub mod instance_options;
pub mod iso;
pub mod keypair;
pub mod listing;
pub mod network;
pub mod offering;
pub mod offering_admin;
pub mod os_type;
pub mod public_ip;
pub mod scope;
pub mod security_group;
pub mod session;
pub mod snapshot;
pub mod tag;
pub mod template;
pub mod volume;
pub mod vpc_admin;

use rand::Rng;

/// A new native id: a random UUID, lowercase, as CloudStack writes them.
pub fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A new EC2-style id: `prefix-` and 17 lowercase hex digits (`i-`, `ami-`, `vol-`, ...).
pub fn new_ec2_id(prefix: &str) -> String {
    let mut rng = rand::thread_rng();
    let digits: String = (0..17)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect();
    format!("{prefix}-{digits}")
}

/// Reads a 0/1 flag column.
pub(crate) fn flag(v: i64) -> bool {
    v != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec2_ids_have_seventeen_hex_digits() {
        let id = new_ec2_id("ami");
        let (prefix, digits) = id.split_once('-').unwrap_or_default();
        assert_eq!(prefix, "ami");
        assert_eq!(digits.len(), 17);
        assert!(digits
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(new_ec2_id("i"), new_ec2_id("i"));
    }
}
