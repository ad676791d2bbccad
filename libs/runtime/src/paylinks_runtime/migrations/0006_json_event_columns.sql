-- The event's JSON in `events.data` and the outbox's headers are stored as `json` (the text, checked to be
-- JSON), not `jsonb`: nothing queries inside them, they are only read back whole (a stream's replay, the
-- relay's record), and building jsonb's binary form cost the append ~25 % of its Postgres CPU
-- (bench/README.md, issue 21 goal 5). The rewrite holds an ACCESS EXCLUSIVE lock on each table while it runs.
ALTER TABLE events ALTER COLUMN data TYPE json USING data::json;
ALTER TABLE outbox ALTER COLUMN headers TYPE json USING headers::json;
ALTER TABLE outbox_quarantine ALTER COLUMN headers TYPE json USING headers::json;
