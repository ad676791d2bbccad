-- What a bill's payments being charged or received (not yet applied by billing nor failed) add up to, kept
-- on the bill's row: a payment reserves its amount with one conditional UPDATE of that row, which waits
-- on the row's lock and re-reads the newest balance and pending before it decides (a separate SELECT of the
-- attempts would read them as they were when the statement began). payment_attempts stays the record of
-- each; this is their sum per bill, moved in the same statements that move an attempt's state.
ALTER TABLE bills ADD COLUMN pending bigint NOT NULL DEFAULT 0;
UPDATE bills b SET pending = open.amount
FROM (
    SELECT bill_id, sum(amount)::bigint AS amount FROM payment_attempts
    WHERE state IN ('charging', 'received') AND bill_id IS NOT NULL GROUP BY bill_id
) open
WHERE open.bill_id = b.bill_id;
