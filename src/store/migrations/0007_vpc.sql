-- The parts of a VPC besides its networks: internet gateways (attached to at most one VPC,
-- a VPC has at most one), route tables with their routes and subnet associations (each VPC
-- has one main table, associated with every network that has no table of its own), and
-- network ACLs (each VPC has a default one; its rules are AWS's fixed default rules).

CREATE TABLE internet_gateways (
    id            TEXT PRIMARY KEY,
    ec2_id        TEXT NOT NULL UNIQUE,
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    vpc_id        TEXT REFERENCES vpcs (id),
    created_ms    BIGINT NOT NULL
);
CREATE INDEX internet_gateways_account ON internet_gateways (account_id, created_ms);
-- A VPC has at most one internet gateway attached.
CREATE UNIQUE INDEX internet_gateways_vpc ON internet_gateways (vpc_id);

CREATE TABLE route_tables (
    id            TEXT PRIMARY KEY,
    ec2_id        TEXT NOT NULL UNIQUE,
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    vpc_id        TEXT NOT NULL REFERENCES vpcs (id),
    is_main       BIGINT NOT NULL,
    created_ms    BIGINT NOT NULL
);
CREATE INDEX route_tables_account ON route_tables (account_id, created_ms);
CREATE INDEX route_tables_vpc ON route_tables (vpc_id);

-- CreateRouteTable's ClientToken: the same token answers the same table.
CREATE TABLE route_table_requests (
    account_id    TEXT NOT NULL,
    client_token  TEXT NOT NULL,
    vpc_id        TEXT NOT NULL,
    route_table_id TEXT NOT NULL,
    created_ms    BIGINT NOT NULL,
    PRIMARY KEY (account_id, client_token)
);

CREATE TABLE routes (
    route_table_id TEXT NOT NULL REFERENCES route_tables (id),
    destination   TEXT NOT NULL,
    -- 'local' (the VPC's own CIDR) or 'gateway' (an internet gateway, by its native id).
    target_kind   TEXT NOT NULL,
    target_id     TEXT,
    created_ms    BIGINT NOT NULL,
    PRIMARY KEY (route_table_id, destination)
);

CREATE TABLE route_table_associations (
    id            TEXT PRIMARY KEY,
    ec2_id        TEXT NOT NULL UNIQUE,
    route_table_id TEXT NOT NULL REFERENCES route_tables (id),
    -- NULL for the main association of a VPC's main table.
    network_id    TEXT REFERENCES networks (id),
    created_ms    BIGINT NOT NULL
);
CREATE INDEX route_table_associations_table ON route_table_associations (route_table_id);
-- A network has at most one explicit association.
CREATE UNIQUE INDEX route_table_associations_network ON route_table_associations (network_id);

CREATE TABLE network_acls (
    id            TEXT PRIMARY KEY,
    ec2_id        TEXT NOT NULL UNIQUE,
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    vpc_id        TEXT NOT NULL REFERENCES vpcs (id),
    is_default    BIGINT NOT NULL,
    created_ms    BIGINT NOT NULL
);
CREATE INDEX network_acls_vpc ON network_acls (vpc_id);
