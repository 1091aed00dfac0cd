-- DescribeInstances pages by reservation in launch order: this index walks an account's
-- reservations in that order and finds the instances of each.
CREATE INDEX instances_launch_order
    ON instances (account_id, created_ms, reservation_id, launch_index);
