-- Public addresses: each zone's public range and the addresses allocated from it to accounts
-- (EC2 elastic IPs, CloudStack public IP addresses). An allocated address may be mapped to one
-- private address of one network interface (static NAT; EC2's association).

CREATE TABLE public_ip_ranges (
    zone_id       TEXT PRIMARY KEY REFERENCES zones (id),
    cidr          TEXT NOT NULL,
    updated_ms    BIGINT NOT NULL
);

CREATE TABLE public_ips (
    id            TEXT PRIMARY KEY,
    ec2_id        TEXT NOT NULL UNIQUE,
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    zone_id       TEXT NOT NULL REFERENCES zones (id),
    address       TEXT NOT NULL,
    -- The address as a number, so a range's free addresses are found in order.
    address_num   BIGINT NOT NULL,
    -- The network it was acquired for (CloudStack's associatednetworkid), if any.
    network_id    TEXT,
    association_id TEXT UNIQUE,
    interface_id  TEXT,
    instance_id   TEXT,
    private_ip    TEXT,
    associated_ms BIGINT,
    allocated_ms  BIGINT NOT NULL
);
-- An address is held by one account at a time.
CREATE UNIQUE INDEX public_ips_address ON public_ips (address);
CREATE INDEX public_ips_account ON public_ips (account_id, allocated_ms);
-- A private address is the target of one public address at most.
CREATE UNIQUE INDEX public_ips_target ON public_ips (interface_id, private_ip);
CREATE INDEX public_ips_instance ON public_ips (instance_id);
