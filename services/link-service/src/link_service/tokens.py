"""Link tokens: the secret part of a pay URL.

A link stores a random 256-bit seed (from `secrets`); its token is HMAC(server key, seed). Lookups go by
sha256(token). So a database dump (seed + hash) reveals no live link, yet a permanent bank-account link can
be shown again whenever staff ask for it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets


class LinkTokens:
    def __init__(self, server_key: str) -> None:
        self._key = server_key.encode()

    @staticmethod
    def new_seed() -> bytes:
        return secrets.token_bytes(32)

    def token(self, seed: bytes) -> str:
        digest = hmac.new(self._key, seed, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    @staticmethod
    def lookup_hash(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def fingerprint(self, payload: bytes) -> str:
        """Keyed digest for idempotency: without the key, no brute-forcing it back to a card number."""
        return hmac.new(self._key, payload, hashlib.sha256).hexdigest()
