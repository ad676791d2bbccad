-- The staff workspace's list: every payment of a firm newest first (a btree index reads backwards), and
-- the exact look-ups of its search box (payer email, reference).
CREATE INDEX payments_newest ON payments (firm_id, received_at, payment_id) WHERE received_at IS NOT NULL;
CREATE INDEX payments_by_payer_email ON payments (firm_id, lower(payer_email));
CREATE INDEX payments_by_reference ON payments (firm_id, lower(reference));
