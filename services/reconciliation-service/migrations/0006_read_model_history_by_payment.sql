-- A payment's history was kept under two indexes: its key (the event id) and the one every read uses (the
-- payment, then time). Every event the projection applies writes a history row, so every row paid for both.
-- Keyed by (firm, payment, event id), one index serves both: a redelivered event still finds its row (an
-- event's id always comes with the same firm and payment), and a payment's few rows are read by its prefix
-- and sorted by time. Measured (bench/README.md, "Session of 2026-12-04"): about 3 us of Postgres CPU less
-- per event the projection applies.
ALTER TABLE payment_history
    DROP CONSTRAINT payment_history_pkey,
    ADD PRIMARY KEY (firm_id, payment_id, event_id);
DROP INDEX payment_history_by_payment;
