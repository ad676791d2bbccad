-- The inbox is pruned by age (inbox_retention.py). Rows arrive in processed_at order, so a BRIN index
-- finds the old ones for almost nothing per insert, where a btree would tax every consumed event.
CREATE INDEX inbox_processed_at ON inbox USING brin (processed_at);
