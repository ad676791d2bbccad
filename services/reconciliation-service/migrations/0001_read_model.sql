-- The read model of reconciliation-service: everything here is derived from events and can be dropped and
-- rebuilt by replay (`reconciliation-rebuild` runs every `*_read_model*.sql` file into a staging schema).
-- Names are unqualified on purpose: the search_path decides which schema they land in.
-- The payment-link aggregate's event store (runtime tables `events`, `outbox`) is NOT part of it.

CREATE TABLE bank_accounts (
    firm_id         text NOT NULL,
    bank_account_id text NOT NULL,
    name            text NOT NULL,
    kind            text NOT NULL,
    currency        text NOT NULL,
    PRIMARY KEY (firm_id, bank_account_id)
);

CREATE TABLE contacts (
    firm_id    text NOT NULL,
    contact_id text NOT NULL,
    name       text NOT NULL,
    email      text,
    PRIMARY KEY (firm_id, contact_id)
);
CREATE INDEX contacts_by_email ON contacts (firm_id, lower(email));

CREATE TABLE matters (
    firm_id    text NOT NULL,
    matter_id  text NOT NULL,
    contact_id text NOT NULL,
    name       text NOT NULL,
    number     text,
    PRIMARY KEY (firm_id, matter_id)
);
CREATE INDEX matters_by_name ON matters (firm_id, lower(name));
CREATE INDEX matters_by_number ON matters (firm_id, lower(number));

-- One row per payment, merged from the events of several topics in whatever order they arrive:
-- every column group is owned by one event type, so applying the events in any order gives the same row.
CREATE TABLE payments (
    firm_id            text NOT NULL,
    payment_id         text NOT NULL,
    bank_account_id    text,
    bill_id            text,
    link_id            text,
    source             text,
    amount             bigint,
    currency           text,
    method             text,
    payer_name         text,
    payer_email        text,
    reference          text,
    card_brand         text,
    last4              text,
    received_at        timestamptz,
    processed_at       timestamptz,
    failed_at          timestamptz,
    failure_reason     text,
    unallocated_amount bigint,
    unallocated_at     timestamptz,
    -- link state: last writer wins on (link_changed_at, link_event_id), so redelivery and reordering are harmless
    link_state         text,
    contact_id         text,
    matter_id          text,
    linked_by          text,
    linked_at          timestamptz,
    link_changed_at    timestamptz,
    link_event_id      text,
    status text GENERATED ALWAYS AS (
        CASE WHEN failed_at IS NOT NULL THEN 'failed'
             WHEN link_state = 'linked' THEN 'linked'
             WHEN processed_at IS NOT NULL THEN 'ready'
             ELSE 'pending' END
    ) STORED,
    -- in the staff's list: received, not linked, and not applied to a bill (unless unallocated)
    listed boolean GENERATED ALWAYS AS (
        received_at IS NOT NULL AND link_state IS DISTINCT FROM 'linked'
        AND (bill_id IS NULL OR unallocated_amount IS NOT NULL)
    ) STORED,
    PRIMARY KEY (firm_id, payment_id)
);
CREATE INDEX payments_waiting ON payments (firm_id, received_at, payment_id) WHERE listed;

CREATE TABLE payment_history (
    event_id   text PRIMARY KEY,
    firm_id    text        NOT NULL,
    payment_id text        NOT NULL,
    type       text        NOT NULL,
    at         timestamptz NOT NULL,
    actor      text        NOT NULL,
    details    jsonb       NOT NULL
);
CREATE INDEX payment_history_by_payment ON payment_history (firm_id, payment_id, at, event_id);
