//! Listing a bucket: keys in byte order from a start point, under a prefix, with keys that
//! share a prefix up to a delimiter rolled up into one common prefix. Each query is a range
//! scan of the `(bucket_id, object_key)` index; after a common prefix the scan seeks past it
//! instead of reading the keys below it, so a page of N entries costs at most about N seeks
//! and usually one query.

use super::{ObjectStore, Requester, StorageResult};

/// Rows asked for right after seeking past a common prefix.
const SEEK_BATCH: usize = 4;
/// Rows the first query asks for when a delimiter may roll keys up.
const FIRST_BATCH_WITH_DELIMITER: usize = 64;

/// One page's worth of a listing request.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// List only entries after this one (a key or a common prefix), exclusive.
    pub after: Option<String>,
    /// Entries (objects and common prefixes together) in the page: 0 to 1000.
    pub limit: usize,
}

/// An object as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub modified_ms: i64,
    pub checksum_algorithm: Option<String>,
    pub checksum_full_object: bool,
    pub owner_account_id: String,
}

/// An entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListEntry {
    Object(ListedObject),
    CommonPrefix(String),
}

impl ListEntry {
    /// The key or prefix: where the next page starts after.
    pub fn name(&self) -> &str {
        match self {
            Self::Object(o) => &o.key,
            Self::CommonPrefix(p) => p,
        }
    }
}

/// A page of a listing; when truncated, the next page starts after the last entry.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub entries: Vec<ListEntry>,
    pub truncated: bool,
}

#[derive(sqlx::FromRow)]
struct ListRow {
    object_key: Vec<u8>,
    size: i64,
    etag: String,
    modified_ms: i64,
    checksum_algorithm: Option<String>,
    checksum_type: Option<String>,
    owner_account_id: String,
}

/// The smallest byte string greater than every string starting with `prefix`, or `None` if
/// there is none (an empty prefix, or one of only 0xFF bytes).
pub(super) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The smallest byte string greater than `s`.
fn just_after(s: &[u8]) -> Vec<u8> {
    let mut v = s.to_vec();
    v.push(0);
    v
}

/// The common prefix `key` rolls up into, if any.
fn common_prefix<'k>(key: &'k [u8], prefix: &[u8], delimiter: Option<&[u8]>) -> Option<&'k [u8]> {
    let delimiter = delimiter.filter(|d| !d.is_empty())?;
    let rest = key.get(prefix.len()..)?;
    let at = rest.windows(delimiter.len()).position(|w| w == delimiter)?;
    Some(&key[..prefix.len() + at + delimiter.len()])
}

impl ObjectStore {
    /// One page of the objects in a bucket the requester may list.
    pub async fn list_objects(
        &self,
        who: &Requester,
        bucket: &str,
        query: &ListQuery,
    ) -> StorageResult<ListPage> {
        let bucket = self.readable_bucket(who, bucket).await?;
        if query.limit == 0 {
            return Ok(ListPage::default());
        }
        let prefix = query.prefix.as_bytes();
        let delimiter = query.delimiter.as_deref().map(str::as_bytes);
        let upper = prefix_end(prefix);

        // Where the scan starts: at the prefix, or just after the marker, or past the whole
        // common prefix the marker falls in.
        let mut lower = prefix.to_vec();
        if let Some(after) = query.after.as_deref().map(str::as_bytes) {
            let start = match common_prefix(after, prefix, delimiter) {
                Some(cp) if after.starts_with(prefix) => match prefix_end(cp) {
                    Some(end) => end,
                    None => return Ok(ListPage::default()),
                },
                _ => just_after(after),
            };
            if start > lower {
                lower = start;
            }
        }

        let want = query.limit + 1;
        let mut entries: Vec<ListEntry> = Vec::with_capacity(want.min(1001));
        // The first query asks for a whole page; after a common prefix the scan seeks past the
        // keys below it and asks for a few rows, then more while no prefix comes.
        let mut batch_size = if delimiter.is_some_and(|d| !d.is_empty()) {
            FIRST_BATCH_WITH_DELIMITER
        } else {
            want
        };
        'scan: loop {
            let batch = batch_size.min(want - entries.len());
            let rows = self
                .list_rows(&bucket.id, &lower, upper.as_deref(), batch)
                .await?;
            let fetched = rows.len();
            let mut seek: Option<Option<Vec<u8>>> = None;
            for row in rows {
                if let Some(cp) = common_prefix(&row.object_key, prefix, delimiter) {
                    entries.push(ListEntry::CommonPrefix(utf8(cp)?));
                    if entries.len() == want {
                        break 'scan;
                    }
                    seek = Some(prefix_end(cp));
                    break;
                }
                lower = just_after(&row.object_key);
                entries.push(ListEntry::Object(row.into_listed()?));
                if entries.len() == want {
                    break 'scan;
                }
            }
            match seek {
                Some(Some(end)) => {
                    lower = end;
                    batch_size = SEEK_BATCH;
                }
                Some(None) => break,
                None if fetched < batch => break,
                None => batch_size = batch_size.saturating_mul(2),
            }
        }
        let truncated = entries.len() > query.limit;
        entries.truncate(query.limit);
        Ok(ListPage { entries, truncated })
    }

    async fn list_rows(
        &self,
        bucket_id: &str,
        lower: &[u8],
        upper: Option<&[u8]>,
        limit: usize,
    ) -> StorageResult<Vec<ListRow>> {
        const COLUMNS: &str = "object_key, size, etag, modified_ms, checksum_algorithm, \
                               checksum_type, owner_account_id";
        let limit = i64::try_from(limit).unwrap_or(1001);
        let rows = match upper {
            Some(upper) => {
                sqlx::query_as(&format!(
                    "SELECT {COLUMNS} FROM objects WHERE bucket_id = $1 AND object_key >= $2 \
                     AND object_key < $3 ORDER BY object_key LIMIT $4"
                ))
                .bind(bucket_id)
                .bind(lower)
                .bind(upper)
                .bind(limit)
                .fetch_all(&self.store.pool)
                .await?
            }
            None => {
                sqlx::query_as(&format!(
                    "SELECT {COLUMNS} FROM objects WHERE bucket_id = $1 AND object_key >= $2 \
                     ORDER BY object_key LIMIT $3"
                ))
                .bind(bucket_id)
                .bind(lower)
                .bind(limit)
                .fetch_all(&self.store.pool)
                .await?
            }
        };
        Ok(rows)
    }
}

fn utf8(bytes: &[u8]) -> StorageResult<String> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| super::StorageError::Internal("a stored key is not UTF-8".into()))
}

impl ListRow {
    fn into_listed(self) -> StorageResult<ListedObject> {
        Ok(ListedObject {
            key: utf8(&self.object_key)?,
            size: u64::try_from(self.size).unwrap_or(0),
            etag: self.etag,
            modified_ms: self.modified_ms,
            checksum_full_object: self.checksum_type.as_deref() != Some("COMPOSITE"),
            checksum_algorithm: self.checksum_algorithm,
            owner_account_id: self.owner_account_id,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly on setup errors
mod tests {
    use bytes::Bytes;

    use super::super::blob::body_from_bytes;
    use super::super::test_support::fresh;
    use super::super::{CannedAcl, NewObject, ObjectMeta, Precondition};
    use super::*;

    #[test]
    fn prefix_bounds() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
        assert_eq!(prefix_end(b""), None);
        assert_eq!(
            common_prefix(b"a/b/c", b"a/", Some(b"/")),
            Some(&b"a/b/"[..])
        );
        assert_eq!(common_prefix(b"a/b", b"a/", Some(b"/")), None);
        assert_eq!(common_prefix(b"xABy", b"", Some(b"AB")), Some(&b"xAB"[..]));
        assert_eq!(common_prefix(b"a/b", b"", None), None);
    }

    fn names(page: &ListPage) -> Vec<String> {
        page.entries.iter().map(|e| e.name().to_owned()).collect()
    }

    #[tokio::test]
    async fn pages_prefixes_and_markers() {
        let (_dir, objects, alice, _bob) = fresh().await;
        objects
            .create_bucket(&alice, "b", "r", CannedAcl::Private)
            .await
            .unwrap();
        let keys = ["a", "b/1", "b/2", "b/3/x", "c", "d/1", "d/2", "e"];
        for key in keys {
            let staged = objects
                .write_blob(body_from_bytes(Bytes::from_static(b"x")), 10)
                .await
                .unwrap();
            let new = NewObject {
                etag: "e".into(),
                meta: ObjectMeta::default(),
                checksum: None,
                acl: CannedAcl::Private,
            };
            objects
                .put_object(&alice, "b", key, staged, new, Precondition::Always)
                .await
                .unwrap();
        }
        let list = |prefix: &str, delimiter: Option<&str>, after: Option<&str>, limit| ListQuery {
            prefix: prefix.into(),
            delimiter: delimiter.map(Into::into),
            after: after.map(Into::into),
            limit,
        };
        let page = objects
            .list_objects(&alice, "b", &list("", Some("/"), None, 1000))
            .await
            .unwrap();
        assert_eq!(names(&page), ["a", "b/", "c", "d/", "e"]);
        assert!(!page.truncated);

        let page = objects
            .list_objects(&alice, "b", &list("", Some("/"), None, 2))
            .await
            .unwrap();
        assert_eq!(names(&page), ["a", "b/"]);
        assert!(page.truncated);
        let page = objects
            .list_objects(&alice, "b", &list("", Some("/"), Some("b/"), 2))
            .await
            .unwrap();
        assert_eq!(names(&page), ["c", "d/"]);
        assert!(page.truncated);
        let page = objects
            .list_objects(&alice, "b", &list("", Some("/"), Some("d/"), 2))
            .await
            .unwrap();
        assert_eq!(names(&page), ["e"]);
        assert!(!page.truncated);

        let page = objects
            .list_objects(&alice, "b", &list("b/", Some("/"), None, 1000))
            .await
            .unwrap();
        assert_eq!(names(&page), ["b/1", "b/2", "b/3/"]);
        let page = objects
            .list_objects(&alice, "b", &list("b/", None, Some("b/1"), 1000))
            .await
            .unwrap();
        assert_eq!(names(&page), ["b/2", "b/3/x"]);
        let page = objects
            .list_objects(&alice, "b", &list("", None, None, 8))
            .await
            .unwrap();
        assert_eq!(page.entries.len(), 8);
        assert!(!page.truncated, "exactly at the boundary is not truncated");
        let page = objects
            .list_objects(&alice, "b", &list("", None, None, 7))
            .await
            .unwrap();
        assert!(page.truncated);
    }
}
