-- The bills whose void link-service has applied (BillLinksClosed on link.events): every pay link of the bill
-- revoked and payments toward it refused, in link-service's one transaction. A void is answered once its
-- bill is here. This replaces bill_links, which held only the links billing had read of: a link issued just
-- before the void could be missing from it, and a payment on that link was accepted after the answer.
CREATE TABLE voids_applied (
    bill_id       text        NOT NULL,
    firm_id       text        NOT NULL,
    links_revoked integer     NOT NULL,
    closed_at     timestamptz NOT NULL,
    PRIMARY KEY (firm_id, bill_id)
);
DROP TABLE bill_links;
