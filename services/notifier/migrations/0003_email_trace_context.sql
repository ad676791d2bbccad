-- The trace context of the consumer span that queued the email: its SMTP span continues that trace, so a
-- payment's trace reaches the email it caused (and a failed delivery is found from the payment).
ALTER TABLE outgoing_emails ADD COLUMN traceparent text, ADD COLUMN tracestate text;
