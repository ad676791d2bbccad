"""The staff workspace: server-rendered pages staff work in (payments, one payment, deposits, trust
reconciliation), signed in by the firm's SSO Bearer token or, locally, a development sign-in. The routes are
in `routes` (imported by the app, not here: the emailed page uses `present` and `session` without them)."""
