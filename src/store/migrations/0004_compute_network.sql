-- Compute and network bookkeeping shared by the doors: VPCs and their networks (EC2 subnets,
-- CloudStack VPC tiers), instances' network interfaces and addresses, security groups and
-- their rules, SSH key pairs, tags on any resource, per-instance options, and launch request
-- digests for idempotent launches.

CREATE TABLE vpcs (
    id            TEXT PRIMARY KEY,
    ec2_id        TEXT NOT NULL UNIQUE,
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    cidr          TEXT NOT NULL,
    is_default    BIGINT NOT NULL,
    dns_support   BIGINT NOT NULL,
    dns_hostnames BIGINT NOT NULL,
    address_usage_metrics BIGINT NOT NULL,
    state         TEXT NOT NULL,
    created_ms    BIGINT NOT NULL
);
CREATE INDEX vpcs_account ON vpcs (account_id, created_ms);
CREATE UNIQUE INDEX vpcs_one_default ON vpcs (account_id) WHERE is_default = 1;

CREATE TABLE networks (
    id            TEXT PRIMARY KEY,
    ec2_id        TEXT NOT NULL UNIQUE,
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    vpc_id        TEXT NOT NULL REFERENCES vpcs (id),
    zone_id       TEXT NOT NULL REFERENCES zones (id),
    cidr          TEXT NOT NULL,
    is_default    BIGINT NOT NULL,
    map_public_ip BIGINT NOT NULL,
    state         TEXT NOT NULL,
    created_ms    BIGINT NOT NULL
);
CREATE INDEX networks_vpc ON networks (vpc_id, created_ms);
CREATE INDEX networks_account ON networks (account_id, created_ms);

CREATE TABLE network_interfaces (
    id            TEXT PRIMARY KEY,
    ec2_id        TEXT NOT NULL UNIQUE,
    account_id    TEXT NOT NULL,
    instance_id   TEXT NOT NULL,
    network_id    TEXT NOT NULL REFERENCES networks (id),
    device_index  BIGINT NOT NULL,
    private_ip    TEXT NOT NULL,
    mac_address   TEXT NOT NULL,
    source_dest_check BIGINT NOT NULL,
    created_ms    BIGINT NOT NULL
);
-- An address is never handed out twice in one network.
CREATE UNIQUE INDEX network_interfaces_address ON network_interfaces (network_id, private_ip);
CREATE INDEX network_interfaces_instance ON network_interfaces (instance_id, device_index);

CREATE TABLE security_groups (
    id            TEXT PRIMARY KEY,
    ec2_id        TEXT NOT NULL UNIQUE,
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    vpc_id        TEXT NOT NULL REFERENCES vpcs (id),
    name          TEXT NOT NULL,
    description   TEXT NOT NULL,
    is_default    BIGINT NOT NULL,
    created_ms    BIGINT NOT NULL
);
CREATE UNIQUE INDEX security_groups_name ON security_groups (vpc_id, name);
CREATE INDEX security_groups_account ON security_groups (account_id, created_ms);

CREATE TABLE security_group_rules (
    id            TEXT PRIMARY KEY,
    ec2_id        TEXT NOT NULL UNIQUE,
    group_id      TEXT NOT NULL REFERENCES security_groups (id),
    direction     TEXT NOT NULL,
    protocol      TEXT NOT NULL,
    from_port     BIGINT,
    to_port       BIGINT,
    cidr_v4       TEXT,
    cidr_v6       TEXT,
    peer_group_id TEXT,
    description   TEXT NOT NULL,
    created_ms    BIGINT NOT NULL
);
CREATE INDEX security_group_rules_group ON security_group_rules (group_id, created_ms);

CREATE TABLE interface_security_groups (
    interface_id  TEXT NOT NULL REFERENCES network_interfaces (id),
    group_id      TEXT NOT NULL REFERENCES security_groups (id),
    position      BIGINT NOT NULL,
    PRIMARY KEY (interface_id, group_id)
);
CREATE INDEX interface_security_groups_group ON interface_security_groups (group_id);

CREATE TABLE ssh_key_pairs (
    id            TEXT PRIMARY KEY,
    ec2_id        TEXT NOT NULL UNIQUE,
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    name          TEXT NOT NULL,
    key_type      TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    public_key    TEXT NOT NULL,
    created_ms    BIGINT NOT NULL
);
CREATE UNIQUE INDEX ssh_key_pairs_name ON ssh_key_pairs (account_id, name);

CREATE TABLE tags (
    account_id    TEXT NOT NULL,
    resource_kind TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    resource_ec2_id TEXT NOT NULL,
    tag_key       TEXT NOT NULL,
    tag_value     TEXT NOT NULL,
    created_ms    BIGINT NOT NULL,
    PRIMARY KEY (resource_id, tag_key)
);
CREATE INDEX tags_account ON tags (account_id, resource_kind);
CREATE INDEX tags_ec2_id ON tags (resource_ec2_id);

CREATE TABLE instance_options (
    instance_id   TEXT PRIMARY KEY,
    termination_protection BIGINT NOT NULL,
    stop_protection BIGINT NOT NULL,
    shutdown_behaviour TEXT NOT NULL,
    root_device_name TEXT NOT NULL,
    root_size_gib BIGINT NOT NULL
);

CREATE TABLE launch_requests (
    account_id    TEXT NOT NULL,
    client_token  TEXT NOT NULL,
    digest        TEXT NOT NULL,
    reservation_id TEXT NOT NULL,
    created_ms    BIGINT NOT NULL,
    PRIMARY KEY (account_id, client_token)
);
