-- notifier: names learnt from other services' events, who gets the emails, and the email outbox.

-- Lookups (projections): the names and facts an email shows, keyed by firm so tenants never mix.
CREATE TABLE bank_accounts (
    firm_id         text NOT NULL,
    bank_account_id text NOT NULL,
    name            text NOT NULL,
    kind            text NOT NULL,
    currency        text NOT NULL,
    PRIMARY KEY (firm_id, bank_account_id)
);

CREATE TABLE bills (
    firm_id     text   NOT NULL,
    bill_id     text   NOT NULL,
    bill_number text,
    amount      bigint NOT NULL,
    currency    text   NOT NULL,
    PRIMARY KEY (firm_id, bill_id)
);

-- What PaymentReceived told us, for the later emails of the same payment (no payer email, no instrument).
CREATE TABLE payments (
    firm_id         text        NOT NULL,
    payment_id      text        NOT NULL,
    bank_account_id text        NOT NULL,
    bill_id         text,
    payer_name      text        NOT NULL,
    method          text        NOT NULL,
    amount          bigint      NOT NULL,
    currency        text        NOT NULL,
    source          text        NOT NULL,
    received_at     timestamptz NOT NULL,
    PRIMARY KEY (firm_id, payment_id)
);

-- How billing handled a processed bill payment: the part applied, and the part left unallocated.
CREATE TABLE bill_outcomes (
    firm_id            text   NOT NULL,
    payment_id         text   NOT NULL,
    bill_id            text   NOT NULL,
    applied_amount     bigint NOT NULL DEFAULT 0,
    balance_after      bigint,
    unallocated_amount bigint NOT NULL DEFAULT 0,
    unallocated_reason text,
    PRIMARY KEY (firm_id, payment_id)
);

-- Who gets a firm's payment emails: group_key 'firm', or 'bank_account:<id>' for one bank account.
CREATE TABLE notification_recipients (
    firm_id         text        NOT NULL,
    group_key       text        NOT NULL,
    bank_account_id text,
    emails          text[]      NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (firm_id, group_key)
);

-- Email outbox: written by the consumer in its inbox transaction, sent by the sender task.
-- One row per (event, recipient group): a replay cannot enqueue the same email twice.
-- The body is rendered once, when the row is first released, and never changes afterwards,
-- so a re-send (after a crash between SMTP and commit) is the same message with the same Message-ID.
CREATE TABLE outgoing_emails (
    id              bigserial   PRIMARY KEY,
    event_id        text        NOT NULL,
    recipient_group text        NOT NULL,
    firm_id         text        NOT NULL,
    payment_id      text        NOT NULL,
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL,  -- of event_data, for the upcasters when it is composed later
    event_data      jsonb       NOT NULL,
    recipients      text[]      NOT NULL,
    message_id      text        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('pending', 'sent', 'skipped')),
    skip_reason     text,
    subject         text,
    body_text       text,
    body_html       text,
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text,
    hold_until      timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    UNIQUE (event_id, recipient_group)
);

CREATE INDEX outgoing_emails_due ON outgoing_emails (next_attempt_at) WHERE status = 'pending';
CREATE INDEX outgoing_emails_by_payment ON outgoing_emails (firm_id, payment_id);
