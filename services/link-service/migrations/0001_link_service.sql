-- link-service's own tables, next to the runtime's events/outbox/inbox. Each is written in the same
-- transaction as the events it follows, so none can disagree with the event store.

-- Bank accounts a firm registered (read model of BankAccountRegistered).
CREATE TABLE bank_accounts (
    bank_account_id text        PRIMARY KEY,
    firm_id         text        NOT NULL,
    name            text        NOT NULL,
    kind            text        NOT NULL,
    currency        text        NOT NULL,
    registered_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bank_accounts_by_firm ON bank_accounts (firm_id, registered_at);

-- Issued links. No token here: a random seed (the token is HMAC(server key, seed)) and sha256(token)
-- for lookups, so a dump of this database reveals no live link.
CREATE TABLE links (
    link_id         text        PRIMARY KEY,
    firm_id         text        NOT NULL,
    kind            text        NOT NULL CHECK (kind IN ('bank_account', 'bill')),
    bank_account_id text        NOT NULL REFERENCES bank_accounts,
    bill_id         text,
    token_hash      bytea       NOT NULL UNIQUE,
    token_seed      bytea       NOT NULL,
    revoked_reason  text,
    issued_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX links_by_bill ON links (bill_id) WHERE bill_id IS NOT NULL;

-- This service's view of bills, from billing.events.
CREATE TABLE bills (
    bill_id  text    PRIMARY KEY,
    firm_id  text    NOT NULL,
    amount   bigint  NOT NULL,
    balance  bigint  NOT NULL,
    currency text    NOT NULL,
    state    text    NOT NULL CHECK (state IN ('open', 'paid', 'void'))
);

-- Idempotency-Key outcomes of payment attempts, per link. `fingerprint` is a keyed digest of the request.
CREATE TABLE idempotency_keys (
    link_id         text        NOT NULL,
    key             text        NOT NULL,
    fingerprint     text        NOT NULL,
    completed       boolean     NOT NULL DEFAULT false,
    payment_id      text,
    refusal_code    text,
    refusal_message text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (link_id, key)
);

-- Processor webhook ids already applied: the same id twice has one effect.
CREATE TABLE processor_webhooks (
    webhook_id  text        PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now()
);

-- The sandbox processor's pending settlements, written in the intake transaction and delivered as
-- signed webhooks when due, so a restart strands no payment.
CREATE TABLE sandbox_settlements (
    webhook_id text        PRIMARY KEY,
    payment_id text        NOT NULL,
    type       text        NOT NULL CHECK (type IN ('payment.succeeded', 'payment.failed')),
    reason     text,
    due_at     timestamptz NOT NULL,
    attempts   integer     NOT NULL DEFAULT 0
);
CREATE INDEX sandbox_settlements_due ON sandbox_settlements (due_at);
