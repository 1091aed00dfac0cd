-- How each instance's metadata service answers its guest (EC2's metadata options), kept only
-- for instances whose options differ from the defaults (tokens optional, endpoint enabled, one
-- hop, no IPv6 endpoint, no tags); an instance without a row has the defaults.
CREATE TABLE instance_metadata_options (
    instance_id   TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL,
    http_tokens   TEXT NOT NULL,
    http_endpoint TEXT NOT NULL,
    hop_limit     BIGINT NOT NULL,
    http_protocol_ipv6 TEXT NOT NULL,
    instance_metadata_tags TEXT NOT NULL
);
CREATE INDEX instance_metadata_options_account ON instance_metadata_options (account_id);
