"""Pure domain: aggregates, payment rules and payment instruments. No I/O here."""
