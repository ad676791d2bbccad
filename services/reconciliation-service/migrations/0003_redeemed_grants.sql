-- The one-payment grants of staff emails that were opened. A grant's URL opens the page once (the exchange
-- for a cookie) and allows one link action (spent_at, set in the link's own transaction). A row is kept
-- until its grant has expired: after that the signature check refuses the grant anyway.
CREATE TABLE redeemed_grants (
    grant_id    text        PRIMARY KEY,
    firm_id     text        NOT NULL,
    payment_id  text        NOT NULL,
    recipient   text        NOT NULL,
    expires_at  timestamptz NOT NULL,
    redeemed_at timestamptz NOT NULL DEFAULT now(),
    spent_at    timestamptz
);
CREATE INDEX redeemed_grants_expiry ON redeemed_grants (expires_at);
