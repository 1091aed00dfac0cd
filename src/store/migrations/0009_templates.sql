-- Template images in secondary storage: where a template's bytes came from (a URL, an object of
-- this cloud, an instance's root disk), how far the download or import has got, and where the
-- stored qcow2 image is (an object in the system bucket). One row per template that has bytes;
-- the built-in simulator template has none. An EC2 import task is the row of the template it
-- makes, under its own `import-ami-` id.

CREATE TABLE template_images (
    template_id        TEXT PRIMARY KEY REFERENCES templates (id),
    source             TEXT NOT NULL,
    source_url         TEXT,
    source_bucket      TEXT,
    source_key         TEXT,
    checksum           TEXT,
    import_task_id     TEXT UNIQUE,
    description        TEXT NOT NULL,
    phase              TEXT NOT NULL,
    progress           BIGINT NOT NULL,
    message            TEXT NOT NULL,
    source_format      TEXT,
    virtual_size_bytes BIGINT NOT NULL,
    image_bucket       TEXT,
    image_key          TEXT,
    created_ms         BIGINT NOT NULL,
    updated_ms         BIGINT NOT NULL
);
CREATE INDEX template_images_phase ON template_images (phase);
