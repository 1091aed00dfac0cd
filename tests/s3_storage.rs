//! The object store through the `cirrus` library's public API, on both backends: SQLite in a
//! temporary data directory, and PostgreSQL on a fresh database made on the cluster named by
//! `CIRRUS_TEST_POSTGRES_URL` (scripts/test starts one). Without that variable the PostgreSQL
//! variants pass without running, except under `CI=true`, where they fail.
//!
//! What differs between the backends is how keys compare: both must list in UTF-8 byte order
//! whatever the database's collation, and both must page by prefix and delimiter alike.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on setup errors

use std::sync::Arc;

use bytes::Bytes;
use cirrus::model::identity::{self, Role};
use cirrus::storage::blob::body_from_bytes;
use cirrus::storage::{
    CannedAcl, ListEntry, ListQuery, NewObject, NewUpload, ObjectMeta, ObjectStore, Precondition,
    Requester,
};
use cirrus::store::Store;
use http_body_util::BodyExt;
use sqlx::{Connection, Executor};

#[derive(Debug, Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

struct Fixture {
    objects: Arc<ObjectStore>,
    owner: Requester,
    _dir: tempfile::TempDir,
}

fn with_database(url: &str, name: &str) -> String {
    let (head, query) = url
        .split_once('?')
        .map_or((url, None), |(h, q)| (h, Some(q)));
    let (scheme, rest) = head.split_once("://").expect("a URL with a scheme");
    let authority = rest.split('/').next().unwrap_or(rest);
    match query {
        Some(q) => format!("{scheme}://{authority}/{name}?{q}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

async fn fixture(backend: Backend) -> Option<Fixture> {
    let dir = tempfile::tempdir().unwrap();
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}/cirrus.db?mode=rwc", dir.path().display()),
        Backend::Postgres => {
            let Ok(base) = std::env::var("CIRRUS_TEST_POSTGRES_URL") else {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "CI=true but CIRRUS_TEST_POSTGRES_URL is not set"
                );
                return None;
            };
            sqlx::any::install_default_drivers();
            let name = format!("cirrus_s3_{}", uuid::Uuid::new_v4().simple());
            let mut admin = sqlx::AnyConnection::connect(&base).await.unwrap();
            admin
                .execute(format!("CREATE DATABASE \"{name}\"").as_str())
                .await
                .unwrap();
            admin.close().await.unwrap();
            with_database(&base, &name)
        }
    };
    let store = Store::open(&url).await.unwrap();
    let mut conn = store.pool.acquire().await.unwrap();
    let root = identity::ensure_root_domain(&mut conn).await.unwrap();
    let account = identity::create_account(&mut conn, &root.id, "owner", Role::User)
        .await
        .unwrap();
    drop(conn);
    let objects = ObjectStore::open_local(store, &dir.path().join("blobs"))
        .await
        .unwrap();
    Some(Fixture {
        objects: Arc::new(objects),
        owner: Requester::Account {
            id: account.id,
            root_admin: false,
        },
        _dir: dir,
    })
}

fn new_object() -> NewObject {
    NewObject {
        etag: "0".repeat(32),
        meta: ObjectMeta::default(),
        checksum: None,
        acl: CannedAcl::Private,
    }
}

impl Fixture {
    async fn put(&self, bucket: &str, key: &str, data: &'static [u8]) {
        let staged = self
            .objects
            .write_blob(body_from_bytes(Bytes::from_static(data)), 1 << 20)
            .await
            .unwrap();
        self.objects
            .put_object(
                &self.owner,
                bucket,
                key,
                staged,
                new_object(),
                Precondition::Always,
            )
            .await
            .unwrap();
    }

    async fn list(&self, bucket: &str, prefix: &str, delimiter: Option<&str>) -> Vec<String> {
        let mut names = Vec::new();
        let mut after = None;
        loop {
            let query = ListQuery {
                prefix: prefix.to_owned(),
                delimiter: delimiter.map(str::to_owned),
                after: after.clone(),
                limit: 2,
            };
            let page = self
                .objects
                .list_objects(&self.owner, bucket, &query)
                .await
                .unwrap();
            for entry in &page.entries {
                names.push(match entry {
                    ListEntry::Object(o) => o.key.clone(),
                    ListEntry::CommonPrefix(p) => format!("{p}*"),
                });
            }
            if !page.truncated {
                return names;
            }
            after = page.entries.last().map(|e| e.name().to_owned());
        }
    }
}

async fn keys_list_in_byte_order_in_pages(backend: Backend) {
    let Some(f) = fixture(backend).await else {
        return;
    };
    f.objects
        .create_bucket(&f.owner, "order", "us-east-1", CannedAcl::Private)
        .await
        .unwrap();
    let keys = [
        "Z", "a", "a b", "a+b", "a/b", "a/c/d", "a~", "b", "é", "日本", "~", "\u{7f}",
    ];
    for key in keys {
        f.put("order", key, b"x").await;
    }
    let mut want: Vec<&str> = keys.to_vec();
    want.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    assert_eq!(f.list("order", "", None).await, want);
    assert_eq!(
        f.list("order", "", Some("/")).await,
        ["Z", "a", "a b", "a+b", "a/*", "a~", "b", "~", "\u{7f}", "é", "日本"]
    );
    assert_eq!(f.list("order", "a/", Some("/")).await, ["a/b", "a/c/*"]);
    assert_eq!(f.list("order", "é", None).await, ["é"]);
}

async fn completed_uploads_read_across_parts(backend: Backend) {
    let Some(f) = fixture(backend).await else {
        return;
    };
    let objects = &f.objects;
    objects
        .create_bucket(&f.owner, "parts", "us-east-1", CannedAcl::Private)
        .await
        .unwrap();
    let upload = objects
        .create_upload(
            &f.owner,
            "parts",
            "joined",
            NewUpload {
                meta: ObjectMeta::default(),
                checksum_algorithm: None,
                checksum_full_object: true,
                acl: CannedAcl::Private,
            },
        )
        .await
        .unwrap();
    for (n, data) in [(1u32, &b"abc"[..]), (2, b"defg")] {
        let staged = objects
            .write_blob(body_from_bytes(Bytes::from_static(data)), 100)
            .await
            .unwrap();
        objects
            .put_part(
                &f.owner,
                "parts",
                "joined",
                &upload.id,
                n,
                staged,
                &format!("e{n}"),
                None,
            )
            .await
            .unwrap();
    }
    let chosen = [(1, "e1".to_owned()), (2, "e2".to_owned())];
    let info = objects
        .complete_upload(
            &f.owner,
            "parts",
            "joined",
            &upload.id,
            &chosen,
            new_object(),
            Precondition::IfAbsent,
        )
        .await
        .unwrap();
    let reader = objects.reader(&info).await.unwrap();
    let body = objects.read(&reader, 1..6).await.unwrap();
    assert_eq!(&body.collect().await.unwrap().to_bytes()[..], b"bcdef");
}

async fn concurrent_writes_commit_as_if_one_after_another(backend: Backend) {
    // Writes that arrive together are committed together: on either backend, of 24 writes of
    // `If-None-Match: *` to 8 keys exactly one per key wins, and every object reads whole.
    let Some(f) = fixture(backend).await else {
        return;
    };
    let objects = &f.objects;
    objects
        .create_bucket(&f.owner, "busy", "us-east-1", CannedAcl::Private)
        .await
        .unwrap();
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..24u8 {
        let (objects, owner) = (objects.clone(), f.owner.clone());
        writes.spawn(async move {
            let body = vec![i; if i % 2 == 0 { 10 } else { 50_000 }];
            let staged = objects
                .write_blob(body_from_bytes(Bytes::from(body)), 1 << 20)
                .await
                .unwrap();
            let new = NewObject {
                etag: format!("{i:032}"),
                ..new_object()
            };
            let key = format!("k{}", i % 8);
            let written = objects
                .put_object(&owner, "busy", &key, staged, new, Precondition::IfAbsent)
                .await;
            (i, written.is_ok())
        });
    }
    let done = writes.join_all().await;
    let won: Vec<u8> = done.iter().filter(|(_, ok)| *ok).map(|(i, _)| *i).collect();
    assert_eq!(won.len(), 8, "winners: {won:?}");
    for i in won {
        let info = objects
            .object(&f.owner, "busy", &format!("k{}", i % 8))
            .await
            .unwrap();
        assert_eq!(info.etag, format!("{i:032}"));
        let reader = objects.reader(&info).await.unwrap();
        let body = objects.read(&reader, 0..info.size).await.unwrap();
        let bytes = body.collect().await.unwrap().to_bytes();
        assert!(bytes.len() == info.size as usize && bytes.iter().all(|b| *b == i));
    }
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::Backend::Sqlite).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::Backend::Postgres).await;
            })*
        }
    };
}

on_both_backends!(
    keys_list_in_byte_order_in_pages,
    completed_uploads_read_across_parts,
    concurrent_writes_commit_as_if_one_after_another
);
