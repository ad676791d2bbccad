-- Refunds asked of the processor. A row is written in the transaction that records RefundRequested (state
-- 'sending'), then the processor is called OUTSIDE any transaction with `Idempotency-Key: refund:<refund_id>`,
-- then the row says what it answered: 'sent' (accepted: the outcome comes by webhook) or 'refused' (its 422,
-- recorded as RefundFailed at once). A row left 'sending' (a crash, no answer) is sent again, with the same
-- key, by the payment upkeep task: refunded once whatever the retries. The refund's status for staff is the
-- Payment stream's (RefundSucceeded/RefundFailed); this table only drives the sending.
CREATE TABLE refund_requests (
    refund_id    text        PRIMARY KEY,
    payment_id   text        NOT NULL,
    amount       bigint      NOT NULL CHECK (amount > 0),
    state        text        NOT NULL CHECK (state IN ('sending', 'sent', 'refused')),
    refusal_code text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refund_requests_sending ON refund_requests (created_at) WHERE state = 'sending';
