-- A firm's smallest payment (minor units): one-cent card tests stop at the pay API. NULL: one unit of the
-- link's currency (1.00 USD, ¥1).
ALTER TABLE firms ADD COLUMN minimum_payment_amount bigint CHECK (minimum_payment_amount > 0);
