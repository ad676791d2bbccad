-- W3C trace context carried from the request that caused an outcome (a charge, a refund, a control) through
-- its timers to its webhooks, so the receiver's handling joins the payer's trace.
ALTER TABLE timers ADD COLUMN traceparent text;
ALTER TABLE webhooks ADD COLUMN traceparent text;
