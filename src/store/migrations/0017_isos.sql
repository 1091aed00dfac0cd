-- ISO images in secondary storage, and the ISO each instance has in its virtual CD drive.
--
-- An ISO has its own table rather than being a template row of format ISO: it is never an
-- instance's root disk nor an EC2 image, so keeping it out of `templates` keeps every template
-- query (listTemplates, DescribeImages, deploy and RunInstances by template id) unchanged. Its
-- bytes are one object in the system bucket (`image_key`), stored as downloaded (no conversion).
CREATE TABLE isos (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    display_text TEXT NOT NULL,
    account_id   TEXT NOT NULL REFERENCES accounts (id),
    zone_id      TEXT NOT NULL REFERENCES zones (id),
    os_type      TEXT NOT NULL,
    bootable     BIGINT NOT NULL,
    is_public    BIGINT NOT NULL,
    is_featured  BIGINT NOT NULL,
    -- downloading, ready or error; `status` says how far or why.
    state        TEXT NOT NULL,
    status       TEXT NOT NULL,
    size_bytes   BIGINT NOT NULL,
    source_url   TEXT NOT NULL,
    checksum     TEXT,
    image_key    TEXT,
    created_ms   BIGINT NOT NULL
);
CREATE INDEX isos_account ON isos (account_id);

-- One row per instance with an ISO in its CD drive (CloudStack's vm_instance.iso_id).
CREATE TABLE instance_isos (
    instance_id TEXT PRIMARY KEY,
    iso_id      TEXT NOT NULL REFERENCES isos (id),
    attached_ms BIGINT NOT NULL
);
CREATE INDEX instance_isos_iso ON instance_isos (iso_id);
