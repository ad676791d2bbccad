-- billing-service tables (in the service's own schema). The Bill streams themselves live in the
-- runtime's `events` table; everything here is a lookup or a read model written in the same
-- transaction as the events, so it never lags behind them.

-- Who and what a bill may be issued for, from practice.events. Ids are opaque strings from outside
-- and only unique within a firm, hence the firm in every key.
CREATE TABLE contacts (
    firm_id    text NOT NULL,
    contact_id text NOT NULL,
    name       text NOT NULL,
    PRIMARY KEY (firm_id, contact_id)
);

CREATE TABLE matters (
    firm_id    text NOT NULL,
    matter_id  text NOT NULL,
    contact_id text NOT NULL,
    name       text NOT NULL,
    PRIMARY KEY (firm_id, matter_id)
);

-- Read model of the Bill aggregate: one row per bill, its applied payments below.
CREATE TABLE bills (
    bill_id     text        PRIMARY KEY,
    firm_id     text        NOT NULL,
    matter_id   text        NOT NULL,
    contact_id  text        NOT NULL,
    amount      bigint      NOT NULL CHECK (amount > 0),
    balance     bigint      NOT NULL CHECK (balance >= 0),
    currency    text        NOT NULL,
    state       text        NOT NULL,
    bill_number text,
    due_date    date,
    issued_at   timestamptz NOT NULL
);
CREATE INDEX bills_by_firm_state ON bills (firm_id, state, issued_at DESC);

CREATE TABLE bill_payments (
    bill_id    text        NOT NULL REFERENCES bills,
    payment_id text        NOT NULL,
    amount     bigint      NOT NULL CHECK (amount > 0),
    applied_at timestamptz NOT NULL,
    PRIMARY KEY (bill_id, payment_id)
);

-- Processed payments naming a bill this service does not hold for that firm. Each was emitted once as
-- PaymentUnallocated; the primary key makes a re-published payment (new ce_id) have no second effect.
CREATE TABLE unmatched_payments (
    payment_id   text        PRIMARY KEY,
    firm_id      text        NOT NULL,
    bill_id      text        NOT NULL,
    amount       bigint      NOT NULL,
    currency     text        NOT NULL,
    processed_at timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
