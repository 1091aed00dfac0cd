-- Foundation schema: identity, infrastructure, offerings, templates, instances.
-- Portable across SQLite and PostgreSQL: ids are TEXT (UUIDs), times are BIGINT milliseconds
-- since the epoch, flags are BIGINT 0/1.

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE domains (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    path       TEXT NOT NULL UNIQUE,
    parent_id  TEXT REFERENCES domains (id),
    state      TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);

CREATE TABLE accounts (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    domain_id  TEXT NOT NULL REFERENCES domains (id),
    role       TEXT NOT NULL,
    number     TEXT NOT NULL UNIQUE,
    state      TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    UNIQUE (domain_id, name)
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    domain_id     TEXT NOT NULL REFERENCES domains (id),
    username      TEXT NOT NULL,
    password_hash TEXT,
    firstname     TEXT NOT NULL,
    lastname      TEXT NOT NULL,
    email         TEXT NOT NULL,
    state         TEXT NOT NULL,
    created_ms    BIGINT NOT NULL,
    UNIQUE (domain_id, username)
);
CREATE INDEX users_account ON users (account_id);

CREATE TABLE api_keys (
    access_key TEXT PRIMARY KEY,
    secret_key TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id),
    state      TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    revoked_ms BIGINT
);
CREATE INDEX api_keys_user ON api_keys (user_id);

CREATE TABLE sessions (
    key_digest TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
);

CREATE TABLE zones (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    region     TEXT NOT NULL,
    state      TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);

CREATE TABLE pods (
    id         TEXT PRIMARY KEY,
    zone_id    TEXT NOT NULL REFERENCES zones (id),
    name       TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    UNIQUE (zone_id, name)
);

CREATE TABLE clusters (
    id         TEXT PRIMARY KEY,
    pod_id     TEXT NOT NULL REFERENCES pods (id),
    zone_id    TEXT NOT NULL REFERENCES zones (id),
    name       TEXT NOT NULL,
    hypervisor TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    UNIQUE (pod_id, name)
);

CREATE TABLE hosts (
    id             TEXT PRIMARY KEY,
    cluster_id     TEXT NOT NULL REFERENCES clusters (id),
    pod_id         TEXT NOT NULL REFERENCES pods (id),
    zone_id        TEXT NOT NULL REFERENCES zones (id),
    name           TEXT NOT NULL UNIQUE,
    hypervisor     TEXT NOT NULL,
    cpus           BIGINT NOT NULL,
    memory_mib     BIGINT NOT NULL,
    cpus_used      BIGINT NOT NULL,
    memory_used_mib BIGINT NOT NULL,
    state          TEXT NOT NULL,
    created_ms     BIGINT NOT NULL
);

CREATE TABLE service_offerings (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    display_text  TEXT NOT NULL,
    cpus          BIGINT NOT NULL,
    cpu_speed_mhz BIGINT NOT NULL,
    memory_mib    BIGINT NOT NULL,
    burstable     BIGINT NOT NULL,
    created_ms    BIGINT NOT NULL
);

CREATE TABLE disk_offerings (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    display_text TEXT NOT NULL,
    size_gib     BIGINT NOT NULL,
    customized   BIGINT NOT NULL,
    created_ms   BIGINT NOT NULL
);

CREATE TABLE templates (
    id           TEXT PRIMARY KEY,
    ec2_id       TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    display_text TEXT NOT NULL,
    account_id   TEXT NOT NULL REFERENCES accounts (id),
    zone_id      TEXT NOT NULL REFERENCES zones (id),
    hypervisor   TEXT NOT NULL,
    format       TEXT NOT NULL,
    os_type      TEXT NOT NULL,
    size_bytes   BIGINT NOT NULL,
    is_public    BIGINT NOT NULL,
    is_featured  BIGINT NOT NULL,
    state        TEXT NOT NULL,
    status       TEXT NOT NULL,
    created_ms   BIGINT NOT NULL
);
CREATE INDEX templates_account ON templates (account_id);

CREATE TABLE instances (
    id             TEXT PRIMARY KEY,
    ec2_id         TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    display_name   TEXT NOT NULL,
    account_id     TEXT NOT NULL REFERENCES accounts (id),
    user_id        TEXT NOT NULL,
    zone_id        TEXT NOT NULL REFERENCES zones (id),
    host_id        TEXT REFERENCES hosts (id),
    offering_id    TEXT NOT NULL REFERENCES service_offerings (id),
    template_id    TEXT NOT NULL REFERENCES templates (id),
    hypervisor     TEXT NOT NULL,
    cpus           BIGINT NOT NULL,
    memory_mib     BIGINT NOT NULL,
    state          TEXT NOT NULL,
    target_state   TEXT,
    state_reason   TEXT NOT NULL,
    capacity_held  BIGINT NOT NULL,
    user_data      TEXT,
    key_name       TEXT,
    reservation_id TEXT NOT NULL,
    launch_index   BIGINT NOT NULL,
    client_token   TEXT,
    created_ms     BIGINT NOT NULL,
    launched_ms    BIGINT,
    destroyed_ms   BIGINT,
    updated_ms     BIGINT NOT NULL
);
CREATE INDEX instances_account ON instances (account_id, created_ms, id);
CREATE INDEX instances_state ON instances (state, destroyed_ms);
CREATE INDEX instances_host ON instances (host_id);
CREATE INDEX instances_token ON instances (account_id, client_token);
