-- v2: emails about money after the payment (returns, refunds, disputes), the payer's receipts, the firm's
-- name in every email, and the reminder about unidentified trust money (issue 17).

-- The firm's display name (FirmProfileUpdated on link.events): every email names the firm.
CREATE TABLE firms (
    firm_id      text PRIMARY KEY,
    display_name text NOT NULL
);

-- What a payer's receipt shows (brand and last four only, never a number), and what the trust
-- reminder needs: when the payment was processed, whether the bank took it back.
ALTER TABLE payments ADD COLUMN payer_email text;
ALTER TABLE payments ADD COLUMN card_brand text;
ALTER TABLE payments ADD COLUMN last4 text;
ALTER TABLE payments ADD COLUMN reference text;
ALTER TABLE payments ADD COLUMN processed_at timestamptz;
ALTER TABLE payments ADD COLUMN returned boolean NOT NULL DEFAULT false;
CREATE INDEX payments_processed_unreturned ON payments (processed_at) WHERE NOT returned;

-- Whether reconciliation linked a payment (its last PaymentLinked/PaymentUnlinked). A table of its own:
-- reconciliation.events may arrive before the payment's PaymentReceived.
CREATE TABLE payment_links (
    firm_id    text    NOT NULL,
    payment_id text    NOT NULL,
    linked     boolean NOT NULL,
    PRIMARY KEY (firm_id, payment_id)
);

-- RefundRequested, for the refund emails (RefundFailed names only the refund).
CREATE TABLE refunds (
    firm_id    text   NOT NULL,
    refund_id  text   NOT NULL,
    payment_id text   NOT NULL,
    amount     bigint NOT NULL,
    currency   text   NOT NULL,
    reason     text   NOT NULL,
    PRIMARY KEY (firm_id, refund_id)
);

-- Who an email is for, which decides how it is worded: the firm's staff, the payer, or a reminder.
ALTER TABLE outgoing_emails ADD COLUMN notice text NOT NULL DEFAULT 'staff'
    CHECK (notice IN ('staff', 'payer', 'unidentified_trust_reminder'));

-- Per firm: after how many business days an unlinked trust payment gets its reminder (default 3).
CREATE TABLE notification_settings (
    firm_id                                 text        PRIMARY KEY,
    unidentified_trust_reminder_business_days integer   NOT NULL CHECK (
        unidentified_trust_reminder_business_days BETWEEN 1 AND 60),
    updated_at                              timestamptz NOT NULL DEFAULT now()
);

-- One reminder per trust payment, ever (the primary key), with its email in outgoing_emails:
-- the month-end report lists these.
CREATE TABLE unidentified_trust_reminders (
    firm_id         text        NOT NULL,
    payment_id      text        NOT NULL,
    bank_account_id text        NOT NULL,
    amount          bigint      NOT NULL,
    currency        text        NOT NULL,
    processed_at    timestamptz NOT NULL,
    business_days   integer     NOT NULL,
    reminded_at     timestamptz NOT NULL DEFAULT now(),
    email_event_id  text        NOT NULL,
    PRIMARY KEY (firm_id, payment_id)
);
CREATE INDEX unidentified_trust_reminders_by_month ON unidentified_trust_reminders (firm_id, reminded_at);
