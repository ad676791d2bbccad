-- Money after the payment (contract v2): fees, refunds, disputes, returns, payouts, and the ledger they make.
-- Part of the read model (a rebuild runs it into its staging schema after 0001 and 0002).
-- Every table is keyed by the id of what it records (a refund, a dispute, a fee, a payout, a movement), and each
-- event type writes only its own columns, so any order of the topics and any redelivery give the same rows.

ALTER TABLE payments
    ADD COLUMN fee             bigint,       -- PaymentProcessed: the processing fee, taken from operating
    ADD COLUMN returned_amount bigint,       -- PaymentReturned
    ADD COLUMN returned_reason text,
    ADD COLUMN returned_at     timestamptz,
    ADD COLUMN payout_id       text;         -- PayoutPaid: the payout whose `payment` line holds it

ALTER TYPE processed_row ADD ATTRIBUTE fee bigint;

CREATE TYPE returned_row AS (
    firm_id text, payment_id text, returned_amount bigint, returned_reason text, returned_at timestamptz
);

CREATE TYPE paid_out_row AS (firm_id text, payment_id text, payout_id text);

-- A bill's client and matter: a bill payment belongs to that client's trust ledger until staff link it.
CREATE TABLE bills (
    firm_id    text NOT NULL,
    bill_id    text NOT NULL,
    matter_id  text NOT NULL,
    contact_id text NOT NULL,
    PRIMARY KEY (firm_id, bill_id)
);
CREATE TYPE bill_row AS (firm_id text, bill_id text, matter_id text, contact_id text);

-- RefundRequested owns the request; RefundSucceeded / RefundFailed own the outcome.
CREATE TABLE refunds (
    firm_id        text NOT NULL,
    refund_id      text NOT NULL,
    payment_id     text NOT NULL,
    amount         bigint NOT NULL,
    currency       text NOT NULL,
    reason         text,
    requested_by   text,
    requested_at   timestamptz,
    succeeded_at   timestamptz,
    failed_at      timestamptz,
    failure_reason text,
    status text GENERATED ALWAYS AS (
        CASE WHEN succeeded_at IS NOT NULL THEN 'succeeded'
             WHEN failed_at IS NOT NULL THEN 'failed'
             ELSE 'pending' END
    ) STORED,
    PRIMARY KEY (firm_id, refund_id)
);
CREATE INDEX refunds_by_payment ON refunds (firm_id, payment_id);
CREATE TYPE refund_request_row AS (
    firm_id text, refund_id text, payment_id text, amount bigint, currency text, reason text,
    requested_by text, requested_at timestamptz
);
CREATE TYPE refund_success_row AS (
    firm_id text, refund_id text, payment_id text, amount bigint, currency text, succeeded_at timestamptz
);
-- RefundFailed carries no amount: a failure seen before its request keeps the row until the request fills it.
CREATE TYPE refund_failure_row AS (
    firm_id text, refund_id text, payment_id text, failed_at timestamptz, failure_reason text
);

-- PaymentDisputed owns the opening; DisputeClosed owns the outcome.
CREATE TABLE disputes (
    firm_id         text NOT NULL,
    dispute_id      text NOT NULL,
    payment_id      text NOT NULL,
    amount          bigint NOT NULL,
    currency        text NOT NULL,
    reason          text,
    evidence_due_by timestamptz,
    disputed_at     timestamptz,
    outcome         text,
    closed_at       timestamptz,
    status text GENERATED ALWAYS AS (coalesce(outcome, 'open')) STORED,
    PRIMARY KEY (firm_id, dispute_id)
);
CREATE INDEX disputes_by_payment ON disputes (firm_id, payment_id);
CREATE TYPE dispute_opened_row AS (
    firm_id text, dispute_id text, payment_id text, amount bigint, currency text, reason text,
    evidence_due_by timestamptz, disputed_at timestamptz
);
CREATE TYPE dispute_closed_row AS (
    firm_id text, dispute_id text, payment_id text, amount bigint, currency text, outcome text,
    closed_at timestamptz
);

-- FeeCharged: a charge and, for a won dispute, its give-back share the fee_id (the give-back is negative).
CREATE TABLE fees (
    firm_id         text NOT NULL,
    fee_id          text NOT NULL,
    given_back      boolean NOT NULL,
    payment_id      text NOT NULL,
    kind            text NOT NULL,
    amount          bigint NOT NULL,
    currency        text NOT NULL,
    bank_account_id text NOT NULL,
    charged_at      timestamptz NOT NULL,
    PRIMARY KEY (firm_id, fee_id, given_back)
);
CREATE INDEX fees_by_account ON fees (firm_id, bank_account_id);
CREATE TYPE fee_row AS (
    firm_id text, fee_id text, given_back boolean, payment_id text, kind text, amount bigint, currency text,
    bank_account_id text, charged_at timestamptz
);

-- PayoutPaid: one bank deposit (or debit) of one account, with its signed lines as the processor sent them.
CREATE TABLE payouts (
    firm_id         text NOT NULL,
    payout_id       text NOT NULL,
    bank_account_id text NOT NULL,
    amount          bigint NOT NULL,
    currency        text NOT NULL,
    arrival_date    date NOT NULL,
    lines           jsonb NOT NULL,
    PRIMARY KEY (firm_id, payout_id)
);
CREATE INDEX payouts_by_account ON payouts (firm_id, bank_account_id, arrival_date);
CREATE TYPE payout_row AS (
    firm_id text, payout_id text, bank_account_id text, amount bigint, currency text, arrival_date date,
    lines jsonb
);

-- The ledger: every movement of a payment's money in its bank account, signed, at the time it happened
-- (+ processed, - refund succeeded, - dispute lost, - returned). A balance "as of" a time is a sum over it.
-- The account is the payment's (payments.bank_account_id): DisputeClosed does not name it.
CREATE TABLE ledger_movements (
    firm_id     text NOT NULL,
    movement_id text NOT NULL,   -- kind:id of what moved (payment, refund, dispute, return)
    payment_id  text NOT NULL,
    kind        text NOT NULL,
    amount      bigint NOT NULL,
    at          timestamptz NOT NULL,
    PRIMARY KEY (firm_id, movement_id)
);
CREATE INDEX ledger_movements_by_payment ON ledger_movements (firm_id, payment_id, at);
CREATE TYPE movement_row AS (
    firm_id text, movement_id text, payment_id text, kind text, amount bigint, at timestamptz
);
