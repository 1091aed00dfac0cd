-- Images made from snapshots and instances, copied, and shared. A template made from a volume
-- snapshot records it (an EC2 image's root device is that snapshot; the snapshot cannot be
-- deleted while an image records it). EC2's root device name, volume type and ENA flag are kept
-- as registered, NULL meaning the defaults (/dev/sda1, gp2, true). A CopyImage keeps its
-- client token and a digest of its request, so a retry answers the same image.
ALTER TABLE templates ADD COLUMN snapshot_id TEXT;
ALTER TABLE templates ADD COLUMN root_device_name TEXT;
ALTER TABLE templates ADD COLUMN root_volume_type TEXT;
ALTER TABLE templates ADD COLUMN ena_support BIGINT;
ALTER TABLE templates ADD COLUMN client_token TEXT;
ALTER TABLE templates ADD COLUMN client_request TEXT;
CREATE INDEX templates_snapshot ON templates (snapshot_id);
CREATE INDEX templates_token ON templates (account_id, client_token);

-- Launch permissions: the accounts (by 12-digit number) a template is shared with. "Every
-- account" is the template's is_public flag, not a row here.
CREATE TABLE template_permissions (
    template_id TEXT NOT NULL REFERENCES templates (id),
    grantee     TEXT NOT NULL,
    PRIMARY KEY (template_id, grantee)
);
CREATE INDEX template_permissions_grantee ON template_permissions (grantee);

-- The hypervisor whose host copied a snapshot's bytes: a template made from the snapshot runs
-- there (a simulated disk's snapshot holds no bytes). NULL until the copy ends.
ALTER TABLE snapshots ADD COLUMN hypervisor TEXT;
