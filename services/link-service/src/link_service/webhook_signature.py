"""The processor's webhook signature lives in the shared runtime: the sandbox processor signs with it."""

from paylinks_runtime.webhook_signature import HEADER, sign, verify

__all__ = ["HEADER", "sign", "verify"]
