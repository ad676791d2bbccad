-- An event appended to a stream is no longer copied into its outbox row: the row's value is NULL and the
-- relay publishes the event's JSON as `events` keeps it (`json` keeps the text it was given, so the bytes
-- are the ones appended). Writing every event twice was half of the append's WAL (1,935 bytes an event,
-- against 1,455 without the copy) and bounded its throughput (bench/README.md, issue 21 goal 5).
-- A row keeps its own value when there is no such event to point to: an event published in another form
-- than it is stored in, or one that belongs to no stream (`event_store.enqueue`).
ALTER TABLE outbox ALTER COLUMN value DROP NOT NULL;
-- A row without a value names its event by uuid (the cast refuses anything else at insert), so the view
-- below can always look it up: a hand-inserted row cannot stop the relay with a failing cast.
ALTER TABLE outbox ADD CONSTRAINT outbox_value_or_event CHECK (value IS NOT NULL OR event_id::uuid IS NOT NULL);
-- Quarantine keeps the value resolved; NULL only for a row whose event was not found in `events`.
ALTER TABLE outbox_quarantine ALTER COLUMN value DROP NOT NULL;

-- The Kafka record of each outbox row, value resolved: what the relay reads and quarantines. The event is
-- looked up by a subquery, not a join: coalesce runs it only for a row without a value, and only for the
-- rows the relay's LIMIT keeps (a join made the planner scan the outbox in parallel workers: ~7 ms a batch
-- of 500 against ~2.4 ms for this, 200,000 events stored).
CREATE VIEW outbox_records AS
SELECT o.id, o.event_id, o.topic, o.key, o.headers,
       coalesce(o.value, (SELECT convert_to(e.data::text, 'UTF8') FROM events e
                           WHERE e.event_id = o.event_id::uuid)) AS value,
       o.created_at
  FROM outbox o;
