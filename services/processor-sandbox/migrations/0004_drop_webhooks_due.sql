-- Nothing reads webhooks by their next attempt's time since the claim walks webhooks_open (0003). This index
-- only cost a write on every webhook's insert, and kept each claim's lease (an update of next_attempt_at)
-- from being a HOT update. A sandbox still running the older claim during a rolling restart loses only
-- speed without it, never a webhook.
DROP INDEX IF EXISTS webhooks_due;
