"""The staff workspace: server-rendered pages staff work in (payments, one payment, deposits, trust
reconciliation), signed in by the firm's SSO Bearer token or, locally, a development sign-in."""

from .routes import router

__all__ = ["router"]
