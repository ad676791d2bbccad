-- Outbox rows Kafka will never accept (larger than the broker takes, a topic name Kafka refuses), moved
-- aside by the relay with Kafka's error so the rows behind them keep flowing. Each one is an alert
-- (OutboxRowQuarantined) and an operator's decision: fix and re-insert into outbox, or delete.
CREATE TABLE outbox_quarantine (
    id             bigint      PRIMARY KEY,
    event_id       text        NOT NULL,
    topic          text        NOT NULL,
    key            text        NOT NULL,
    headers        jsonb       NOT NULL,
    value          bytea       NOT NULL,
    created_at     timestamptz NOT NULL,
    error          text        NOT NULL,
    quarantined_at timestamptz NOT NULL DEFAULT now()
);
