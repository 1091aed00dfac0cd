-- The orchestrator: the durable job queue, the simulated hosts' guests (in the database, so any
-- management server can drive them) and the event log.

CREATE TABLE jobs (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    instance_id   TEXT,
    account_id    TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    payload       TEXT NOT NULL,
    state         TEXT NOT NULL,
    result        TEXT,
    error_code    TEXT,
    error_text    TEXT,
    lease_owner   TEXT,
    lease_until_ms BIGINT,
    attempts      BIGINT NOT NULL,
    created_ms    BIGINT NOT NULL,
    started_ms    BIGINT,
    finished_ms   BIGINT,
    deadline_ms   BIGINT NOT NULL
);
CREATE INDEX jobs_state ON jobs (state, created_ms);
CREATE INDEX jobs_instance ON jobs (instance_id, state);
CREATE INDEX jobs_account ON jobs (account_id, created_ms);

CREATE TABLE sim_guests (
    instance_id TEXT PRIMARY KEY,
    host_id     TEXT NOT NULL,
    power       TEXT NOT NULL,
    updated_ms  BIGINT NOT NULL
);
CREATE INDEX sim_guests_host ON sim_guests (host_id);

CREATE TABLE events (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    level       TEXT NOT NULL,
    state       TEXT NOT NULL,
    resource_id TEXT,
    description TEXT NOT NULL,
    created_ms  BIGINT NOT NULL
);
CREATE INDEX events_account ON events (account_id, created_ms);
