-- v2: payments taken back (refunds, disputes, returns). Reversal events name a payment, not a bill, so the
-- bill each payment settled against is kept here, in the transaction that settled it.
CREATE TABLE payment_bills (
    payment_id text PRIMARY KEY,
    firm_id    text NOT NULL,
    bill_id    text NOT NULL REFERENCES bills,
    currency   text NOT NULL
);
INSERT INTO payment_bills (payment_id, firm_id, bill_id, currency)
SELECT DISTINCT ON (e.data->>'payment_id') e.data->>'payment_id', e.firm_id, e.stream_id, b.currency
FROM events e JOIN bills b ON b.bill_id = e.stream_id
WHERE e.stream_type = 'bill' AND e.event_type IN ('BillPaymentApplied', 'PaymentUnallocated')
ORDER BY e.data->>'payment_id', e.version;

-- Each reversal of a payment, once (reversal_key: 'refund:<refund_id>', 'dispute:<dispute_id>', 'return'),
-- with where its money came from. The unallocated part never touched the bill, so only this row records
-- that it is gone; a won dispute (closed_outcome) gives both parts back.
CREATE TABLE payment_reversals (
    payment_id       text        NOT NULL REFERENCES payment_bills,
    reversal_key     text        NOT NULL,
    reason           text        NOT NULL CHECK (reason IN ('refund', 'dispute', 'return')),
    amount           bigint      NOT NULL CHECK (amount >= 0),
    from_unallocated bigint      NOT NULL CHECK (from_unallocated >= 0),
    from_bill        bigint      NOT NULL CHECK (from_bill >= 0),
    reversed_at      timestamptz NOT NULL,
    closed_outcome   text        CHECK (closed_outcome IN ('won', 'lost')),
    PRIMARY KEY (payment_id, reversal_key)
);

-- A payment's row now shows what it has on the bill after reversals (0 when all was given back).
ALTER TABLE bill_payments DROP CONSTRAINT bill_payments_amount_check;
ALTER TABLE bill_payments ADD CHECK (amount >= 0);
ALTER TABLE bill_payments ADD COLUMN reversed_amount bigint NOT NULL DEFAULT 0;

-- Why a bill's balance moved: every application, reversal and unallocated part, in order.
CREATE TABLE bill_history (
    id          bigserial   PRIMARY KEY,
    bill_id     text        NOT NULL REFERENCES bills,
    type        text        NOT NULL CHECK (type IN ('applied', 'reversed', 'unallocated')),
    payment_id  text        NOT NULL,
    amount      bigint      NOT NULL,
    balance     bigint,
    reason      text,
    at          timestamptz NOT NULL
);
CREATE INDEX bill_history_by_bill ON bill_history (bill_id, id);
INSERT INTO bill_history (bill_id, type, payment_id, amount, balance, reason, at)
SELECT e.stream_id,
       CASE e.event_type WHEN 'BillPaymentApplied' THEN 'applied' ELSE 'unallocated' END,
       e.data->>'payment_id', (e.data->>'amount')::bigint, (e.data->>'balance')::bigint, e.data->>'reason',
       coalesce(e.data->>'applied_at', e.data->>'unallocated_at')::timestamptz
FROM events e JOIN bills b ON b.bill_id = e.stream_id
WHERE e.stream_type = 'bill' AND e.event_type IN ('BillPaymentApplied', 'PaymentUnallocated')
ORDER BY e.stream_id, e.version;
