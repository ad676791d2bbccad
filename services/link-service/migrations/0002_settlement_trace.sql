-- The trace context of the pay request, so the sandbox's webhook (and what billing, reconciliation
-- and the notifier do with the processed payment) continues the same trace.
ALTER TABLE sandbox_settlements ADD COLUMN traceparent text;
