"""notifier: The two payment emails (and the failure email), exactly once, over SMTP."""
