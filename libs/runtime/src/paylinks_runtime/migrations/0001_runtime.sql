-- Shared runtime tables: every service has them in its own schema.

-- Event store: one row per event of an aggregate's stream. The primary key gives optimistic
-- concurrency: two appends at the same version cannot both commit.
CREATE TABLE events (
    stream_id      text        NOT NULL,
    version        integer     NOT NULL CHECK (version > 0),
    stream_type    text        NOT NULL,
    event_id       uuid        NOT NULL UNIQUE,
    event_type     text        NOT NULL,
    schema_version integer     NOT NULL,
    firm_id        text        NOT NULL,
    data           jsonb       NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, version)
);

-- Transactional outbox: written in the same transaction as the events, published by the relay,
-- deleted once Kafka acknowledged it. Rows are read in id order; a row that commits late is simply
-- picked up by a later poll, since nothing is skipped past.
CREATE TABLE outbox (
    id         bigserial   PRIMARY KEY,
    event_id   text        NOT NULL,
    topic      text        NOT NULL,
    key        text        NOT NULL,
    headers    jsonb       NOT NULL,
    value      bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Inbox: the events a consumer has applied. Written in the transaction that applies them, so a
-- redelivered event is recognised and has no second effect.
CREATE TABLE inbox (
    consumer     text        NOT NULL,
    event_id     text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
