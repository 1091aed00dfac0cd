-- The secondary storage object store: buckets, objects, multipart uploads and their parts.
-- Bytes live in the blob store (DIR/blobs by default); these tables hold what the bytes are.
-- Keys are BYTEA so that both SQLite (memcmp on blobs) and PostgreSQL (bytewise on bytea) order
-- them by their UTF-8 bytes, as S3 lists them, whatever the database's collation; every listing
-- is a range scan of (bucket_id, key).

CREATE TABLE buckets (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    owner_account_id TEXT NOT NULL REFERENCES accounts (id),
    region           TEXT NOT NULL,
    -- A canned ACL: private, public-read, public-read-write, authenticated-read.
    acl              TEXT NOT NULL,
    created_ms       BIGINT NOT NULL
);
CREATE INDEX buckets_owner ON buckets (owner_account_id, name);

CREATE TABLE objects (
    id                 TEXT PRIMARY KEY,
    bucket_id          TEXT NOT NULL REFERENCES buckets (id),
    object_key         BYTEA NOT NULL,
    size               BIGINT NOT NULL,
    etag               TEXT NOT NULL,
    -- The one blob of a simple object; NULL for an object assembled from parts or kept inline.
    blob_id            TEXT,
    -- The bytes of a small object, kept in the row: a write of one costs no file and shares
    -- the database commit with the writes beside it.
    inline_data        BYTEA,
    -- For an object assembled from parts: how many (rows in object_parts).
    parts_count        BIGINT,
    -- JSON: content type, encoding, disposition, language, cache control, expires, user metadata.
    metadata           TEXT NOT NULL,
    checksum_algorithm TEXT,
    checksum_value     TEXT,
    checksum_type      TEXT,
    acl                TEXT NOT NULL,
    owner_account_id   TEXT NOT NULL,
    modified_ms        BIGINT NOT NULL,
    UNIQUE (bucket_id, object_key)
);

CREATE TABLE object_parts (
    object_id   TEXT NOT NULL REFERENCES objects (id),
    part_number BIGINT NOT NULL,
    blob_id     TEXT NOT NULL,
    size        BIGINT NOT NULL,
    etag        TEXT NOT NULL,
    checksum    TEXT,
    PRIMARY KEY (object_id, part_number)
);

CREATE TABLE multipart_uploads (
    id                 TEXT PRIMARY KEY,
    bucket_id          TEXT NOT NULL REFERENCES buckets (id),
    object_key         BYTEA NOT NULL,
    metadata           TEXT NOT NULL,
    checksum_algorithm TEXT,
    checksum_type      TEXT,
    acl                TEXT NOT NULL,
    owner_account_id   TEXT NOT NULL,
    initiated_ms       BIGINT NOT NULL
);
CREATE INDEX multipart_uploads_key ON multipart_uploads (bucket_id, object_key, initiated_ms, id);

CREATE TABLE upload_parts (
    upload_id   TEXT NOT NULL REFERENCES multipart_uploads (id),
    part_number BIGINT NOT NULL,
    blob_id     TEXT NOT NULL,
    size        BIGINT NOT NULL,
    etag        TEXT NOT NULL,
    checksum    TEXT,
    modified_ms BIGINT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);

-- Blobs no row refers to any more, written in the same transaction that dropped the last
-- reference; the blob store deletes them and then the row, so a crash in between only delays.
CREATE TABLE blob_trash (
    blob_id    TEXT PRIMARY KEY,
    trashed_ms BIGINT NOT NULL
);
