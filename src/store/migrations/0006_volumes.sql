-- Volumes (EBS volumes, CloudStack volumes) and their snapshots. Every instance has a root
-- volume row made in its launch's transaction; data volumes are made on their own and attached
-- to one instance at a time. A snapshot's bytes are an object in secondary storage.

CREATE TABLE volumes (
    id            TEXT PRIMARY KEY,
    ec2_id        TEXT NOT NULL UNIQUE,
    account_id    TEXT NOT NULL,
    zone_id       TEXT NOT NULL,
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL,
    size_gib      BIGINT NOT NULL,
    volume_type   TEXT NOT NULL,
    iops          BIGINT,
    throughput    BIGINT,
    state         TEXT NOT NULL,
    instance_id   TEXT,
    device        TEXT,
    attach_state  TEXT,
    attached_ms   BIGINT,
    delete_on_termination BIGINT NOT NULL,
    disk_offering_id TEXT,
    snapshot_id   TEXT,
    client_token  TEXT,
    created_ms    BIGINT NOT NULL,
    updated_ms    BIGINT NOT NULL
);
CREATE INDEX volumes_account ON volumes (account_id, created_ms);
CREATE INDEX volumes_instance ON volumes (instance_id);
-- One volume per device name of an instance.
CREATE UNIQUE INDEX volumes_device ON volumes (instance_id, device);
CREATE INDEX volumes_token ON volumes (account_id, client_token);

-- The latest modification of each volume (DescribeVolumesModifications).
CREATE TABLE volume_modifications (
    volume_id     TEXT PRIMARY KEY,
    state         TEXT NOT NULL,
    original_size_gib BIGINT NOT NULL,
    target_size_gib BIGINT NOT NULL,
    original_type TEXT NOT NULL,
    target_type   TEXT NOT NULL,
    original_iops BIGINT,
    target_iops   BIGINT,
    original_throughput BIGINT,
    target_throughput BIGINT,
    progress      BIGINT NOT NULL,
    started_ms    BIGINT NOT NULL,
    ended_ms      BIGINT
);

CREATE TABLE snapshots (
    id            TEXT PRIMARY KEY,
    ec2_id        TEXT NOT NULL UNIQUE,
    account_id    TEXT NOT NULL,
    volume_id     TEXT NOT NULL,
    volume_ec2_id TEXT NOT NULL,
    volume_kind   TEXT NOT NULL,
    zone_id       TEXT NOT NULL,
    size_gib      BIGINT NOT NULL,
    state         TEXT NOT NULL,
    progress      BIGINT NOT NULL,
    state_message TEXT NOT NULL,
    bucket        TEXT,
    object_key    TEXT,
    stored_bytes  BIGINT NOT NULL,
    description   TEXT NOT NULL,
    created_ms    BIGINT NOT NULL,
    updated_ms    BIGINT NOT NULL
);
CREATE INDEX snapshots_account ON snapshots (account_id, created_ms);
CREATE INDEX snapshots_volume ON snapshots (volume_id);

-- Who besides the owner may make volumes from a snapshot: an account number, or 'all'.
CREATE TABLE snapshot_permissions (
    snapshot_id   TEXT NOT NULL,
    grantee       TEXT NOT NULL,
    PRIMARY KEY (snapshot_id, grantee)
);

-- The simulator's bookkeeping of which volume is plugged into which simulated guest.
CREATE TABLE sim_volumes (
    volume_id     TEXT PRIMARY KEY,
    instance_id   TEXT,
    size_bytes    BIGINT NOT NULL,
    updated_ms    BIGINT NOT NULL
);
