-- DescribeVolumes pages an account's volumes by creation, ties broken by id: this index walks
-- them in that order from a page's cursor. It replaces volumes_account, its prefix.
CREATE INDEX volumes_account_order ON volumes (account_id, created_ms, id);
DROP INDEX volumes_account;
