-- The sandbox processor's own state. No card number, CVC or bank account number anywhere: of an instrument
-- only brand, last four, expiry and the test scenario its number selected.

-- Tokens made by the payer's browser; each pays for one charge.
CREATE TABLE payment_methods (
    id                  text        PRIMARY KEY,
    type                text        NOT NULL CHECK (type IN ('card', 'us_bank_account')),
    brand               text,
    last4               text        NOT NULL CHECK (last4 ~ '^[0-9]{4}$'),
    exp_month           integer,
    exp_year            integer,
    account_holder_name text,
    scenario            text        NOT NULL,
    used_by_charge      text,
    created_at          timestamptz NOT NULL DEFAULT now()
);

-- Every charge made: the listing tests use to prove none is made twice, so payment_id is not unique here.
CREATE TABLE charges (
    id                  text        PRIMARY KEY,
    payment_id          text        NOT NULL,
    firm_id             text        NOT NULL,
    bank_account_id     text        NOT NULL,
    fee_bank_account_id text        NOT NULL,
    amount              bigint      NOT NULL CHECK (amount > 0),
    currency            text        NOT NULL,
    method              text        NOT NULL CHECK (method IN ('card', 'echeck')),
    payment_method_id   text        NOT NULL REFERENCES payment_methods (id),
    brand               text,
    last4               text        NOT NULL,
    scenario            text        NOT NULL,
    status              text        NOT NULL,
    fee                 bigint      NOT NULL,
    fee_id              text        NOT NULL,
    failure_reason      text,
    idempotency_key     text        NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX charges_by_payment ON charges (payment_id, created_at);

CREATE TABLE refunds (
    id             text        PRIMARY KEY,
    refund_id      text        NOT NULL UNIQUE,
    charge_id      text        NOT NULL REFERENCES charges (id),
    amount         bigint      NOT NULL CHECK (amount > 0),
    status         text        NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    failure_reason text,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_by_charge ON refunds (charge_id);

CREATE TABLE disputes (
    id              text        PRIMARY KEY,
    charge_id       text        NOT NULL REFERENCES charges (id),
    amount          bigint      NOT NULL CHECK (amount > 0),
    reason          text        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('open', 'won', 'lost')),
    fee_id          text        NOT NULL,
    evidence_due_by timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX disputes_by_charge ON disputes (charge_id);

-- Money settled into (+) or out of (-) a bank account, waiting for its payout; paid out exactly once.
CREATE TABLE ledger_lines (
    id              bigserial   PRIMARY KEY,
    firm_id         text        NOT NULL,
    bank_account_id text        NOT NULL,
    currency        text        NOT NULL,
    type            text        NOT NULL
                    CHECK (type IN ('payment', 'refund', 'dispute', 'dispute_won', 'return', 'fee')),
    payment_id      text        NOT NULL,
    refund_id       text,
    fee_id          text,
    amount          bigint      NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    payout_id       text
);
CREATE INDEX ledger_lines_unpaid ON ledger_lines (id) WHERE payout_id IS NULL;

CREATE TABLE payouts (
    id              text        PRIMARY KEY,
    firm_id         text        NOT NULL,
    bank_account_id text        NOT NULL,
    currency        text        NOT NULL,
    amount          bigint      NOT NULL,
    arrival_date    date        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- What happens later (a settlement, a dispute, its close, a return, a refund): survives a restart.
CREATE TABLE timers (
    id         bigserial   PRIMARY KEY,
    due_at     timestamptz NOT NULL,
    action     text        NOT NULL,
    subject_id text        NOT NULL,
    params     jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX timers_due ON timers (due_at);

-- Webhooks to deliver, in order of occurrence (seq) per ordering key (the payment, or the payout).
CREATE TABLE webhooks (
    seq             bigserial   PRIMARY KEY,
    id              text        NOT NULL UNIQUE,
    ordering_key    text        NOT NULL,
    type            text        NOT NULL,
    body            text        NOT NULL,  -- the exact bytes signed and sent, the same on every attempt
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    dropped_at      timestamptz,
    last_error      text
);
CREATE INDEX webhooks_due ON webhooks (next_attempt_at) WHERE delivered_at IS NULL AND dropped_at IS NULL;
CREATE INDEX webhooks_open_by_key ON webhooks (ordering_key, seq) WHERE delivered_at IS NULL AND dropped_at IS NULL;

-- Idempotency-Key: the first response, replayed for the same key and body; kept IDEMPOTENCY_KEY_HOURS.
CREATE TABLE idempotency_keys (
    key         text        PRIMARY KEY,
    fingerprint text        NOT NULL,
    status      integer     NOT NULL,
    body        jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);
