-- Leadership of the outbox relay: one row per schema, a lease the holder renews. A holder that stops
-- renewing (frozen, partitioned, dead) loses it when expires_at passes, and a standby takes it with the
-- next epoch. Publishing and deleting are fenced by the epoch: an old leader that wakes cannot go on.
CREATE TABLE outbox_relay_lease (
    singleton  boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    holder     text        NOT NULL,
    epoch      bigint      NOT NULL,
    expires_at timestamptz NOT NULL
);
