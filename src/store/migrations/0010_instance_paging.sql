-- DescribeInstances pages by reservation in launch order: this index walks an account's
-- reservations in that order and finds the instances of each.
CREATE INDEX instances_launch_order
    ON instances (account_id, created_ms, reservation_id, launch_index);

-- The native listVirtualMachines pages every visible instance (a root admin's `listall`) by
-- creation; without this index each page sorted the whole table.
CREATE INDEX instances_created ON instances (created_ms, id);
