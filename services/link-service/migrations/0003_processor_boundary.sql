-- Contract v2: the processor is a separate system (services/processor-sandbox), reached over HTTP.

-- Its in-process stand-in kept pending settlements here; the sandbox process keeps its own now.
DROP TABLE sandbox_settlements;

-- Every payment attempt, recorded BEFORE the processor is called: the charge goes out with the key
-- `payment:<payment_id>`, so re-sending an attempt left 'charging' (a crash, a timeout) can never charge twice.
-- `amount` counts against its bill's balance due while the attempt is 'charging' or 'received' (not yet
-- applied by billing nor failed): parallel payers can never together exceed the balance.
-- `charge` is what the processor needs (the single-use payment method token, never card or bank
-- numbers) and `receipt` what PaymentReceived needs (payer, reference, eCheck authorization).
CREATE TABLE payment_attempts (
    payment_id      text        PRIMARY KEY,
    link_id         text        NOT NULL,
    bill_id         text,
    amount          bigint,  -- NULL for an attempt refused before any charge
    state           text        NOT NULL CHECK (state IN ('charging', 'received', 'settled', 'refused')),
    refusal_code    text,
    refusal_message text,
    charge          jsonb,
    receipt         jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (amount > 0 OR (amount IS NULL AND state = 'refused'))
);
CREATE INDEX payment_attempts_open_by_bill ON payment_attempts (bill_id)
    WHERE state IN ('charging', 'received');
CREATE INDEX payment_attempts_charging ON payment_attempts (created_at) WHERE state = 'charging';

-- The old fingerprints were keyed hashes over card number, expiry and CVC: none may survive. The new
-- ones cover what link-service receives now (the payment method token and the request) and point at
-- the attempt, which holds the outcome. Keys expire after 24 hours.
DROP TABLE idempotency_keys;
CREATE TABLE idempotency_keys (
    link_id     text        NOT NULL,
    key         text        NOT NULL,
    fingerprint text        NOT NULL,
    -- Deferred: the key is claimed first (so a concurrent retry waits on it), its attempt written after.
    payment_id  text        NOT NULL REFERENCES payment_attempts DEFERRABLE INITIALLY DEFERRED,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (link_id, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);

-- The firm's profile (read model of FirmProfileUpdated): the name payers see, and the operating account
-- the processor takes fees from (NULL: the firm's first operating account).
CREATE TABLE firms (
    firm_id             text PRIMARY KEY,
    display_name        text NOT NULL,
    fee_bank_account_id text REFERENCES bank_accounts
);
