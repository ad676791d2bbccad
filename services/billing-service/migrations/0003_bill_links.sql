-- The pay links of each bill, learnt from link.events (LinkIssued with a bill_id, LinkRevoked): a void is
-- answered once link-service has revoked every one of them as `bill_voided`, so no payer pays a bill after
-- staff were told it is void. Links issued before this table existed are not in it (nothing waits for them).
CREATE TABLE bill_links (
    link_id   text PRIMARY KEY,
    firm_id   text NOT NULL,
    bill_id   text NOT NULL,
    voided_at timestamptz
);
CREATE INDEX bill_links_open ON bill_links (firm_id, bill_id) WHERE voided_at IS NULL;
