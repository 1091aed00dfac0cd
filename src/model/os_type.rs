//! Guest OS types: the names a template's `os_type` is one of, grouped in categories, each with
//! a fixed id so that ids stay the same on every cloud and across restarts.
//!
//! LIMITATION: the catalogue is fixed in code; operators cannot add OS types yet.

/// One guest OS type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OsType {
    pub id: &'static str,
    pub description: &'static str,
    pub category_id: &'static str,
    pub category: &'static str,
}

const LINUX: (&str, &str) = ("6e5b1f0c-2a43-4d8e-9b7a-0c1d2e3f4a01", "Linux");
const WINDOWS: (&str, &str) = ("6e5b1f0c-2a43-4d8e-9b7a-0c1d2e3f4a02", "Windows");
const OTHER: (&str, &str) = ("6e5b1f0c-2a43-4d8e-9b7a-0c1d2e3f4a03", "Other");

const fn os(
    id: &'static str,
    description: &'static str,
    category: (&'static str, &'static str),
) -> OsType {
    OsType {
        id,
        description,
        category_id: category.0,
        category: category.1,
    }
}

/// Every OS type, in a stable order.
pub const OS_TYPES: &[OsType] = &[
    os(
        "b4f1c2d3-0001-4e5f-8a9b-000000000001",
        "Other Linux (64-bit)",
        LINUX,
    ),
    os(
        "b4f1c2d3-0001-4e5f-8a9b-000000000002",
        "Ubuntu 22.04 LTS",
        LINUX,
    ),
    os(
        "b4f1c2d3-0001-4e5f-8a9b-000000000003",
        "Ubuntu 24.04 LTS",
        LINUX,
    ),
    os(
        "b4f1c2d3-0001-4e5f-8a9b-000000000004",
        "Debian GNU/Linux 12 (64-bit)",
        LINUX,
    ),
    os(
        "b4f1c2d3-0001-4e5f-8a9b-000000000005",
        "Debian GNU/Linux 13 (64-bit)",
        LINUX,
    ),
    os(
        "b4f1c2d3-0001-4e5f-8a9b-000000000006",
        "Rocky Linux 9",
        LINUX,
    ),
    os("b4f1c2d3-0001-4e5f-8a9b-000000000007", "AlmaLinux 9", LINUX),
    os(
        "b4f1c2d3-0001-4e5f-8a9b-000000000008",
        "Fedora Linux (64 bit)",
        LINUX,
    ),
    os(
        "b4f1c2d3-0001-4e5f-8a9b-000000000009",
        "CentOS Stream 9",
        LINUX,
    ),
    os(
        "b4f1c2d3-0001-4e5f-8a9b-00000000000a",
        "Windows Server 2022 (64-bit)",
        WINDOWS,
    ),
    os(
        "b4f1c2d3-0001-4e5f-8a9b-00000000000b",
        "Windows 11 (64-bit)",
        WINDOWS,
    ),
    os(
        "b4f1c2d3-0001-4e5f-8a9b-00000000000c",
        "FreeBSD 14 (64-bit)",
        OTHER,
    ),
    os(
        "b4f1c2d3-0001-4e5f-8a9b-00000000000d",
        "Other (64-bit)",
        OTHER,
    ),
];

/// The OS type of this name.
pub fn by_description(description: &str) -> Option<&'static OsType> {
    OS_TYPES.iter().find(|o| o.description == description)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_uuids() {
        let mut ids: Vec<&str> = OS_TYPES.iter().map(|o| o.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), OS_TYPES.len());
        for id in ids {
            assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
        }
        assert!(
            by_description("Other Linux (64-bit)").is_some(),
            "the built-in template's"
        );
    }
}
