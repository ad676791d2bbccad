-- The open webhooks in the order they happened: the claim walks this index from its start and stops at the
-- first one free to go, however stale the table's statistics are. Without it the planner, told by the last
-- ANALYZE (taken when nearly every webhook had been delivered) that hardly any are open, read every open
-- webhook against every other: a backlog of 2,000 took 0.3-0.8 s a claim, and delivery crawled at ~2 a
-- second until autovacuum analyzed the table again (measured by the bench's figure 8).
CREATE INDEX webhooks_open ON webhooks (seq) WHERE delivered_at IS NULL AND dropped_at IS NULL;
