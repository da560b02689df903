"""Thinking-block signatures: an HMAC of the thinking text under a per-fake key.

The fake signs every thinking block it produces and checks the signatures of the
latest assistant turn's thinking blocks, as the API does. A changed text or
a signature from another fake (another seed) fails the check, as a modified or
foreign block fails at the API.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from attrs import field, frozen

from ._tokens import decode_base64

__all__ = ["Signer"]

_FULL = b"f"
_OMITTED = b"o"
_SIZE = 1 + 8 + 32


def _mac(key: bytes, flag: bytes, nonce: bytes, thinking: str) -> bytes:
    # An omitted block's text is not bound: the API ignores text put into it.
    text = b"" if flag == _OMITTED else thinking.encode()
    return hmac.new(key, flag + nonce + text, hashlib.sha256).digest()


@frozen
class Signer:
    """Signs and verifies thinking blocks for one fake (one seed)."""

    seed: int
    _key: bytes = field(init=False, repr=False)

    @_key.default
    def _derive(self) -> bytes:
        return hashlib.sha256(f"conversa-fake-thinking:{self.seed}".encode()).digest()

    def sign(self, thinking: str, *, nonce: str, omitted: bool) -> str:
        """Return the signature of *thinking*, made unique by *nonce*."""
        flag = _OMITTED if omitted else _FULL
        salt = hashlib.sha256(nonce.encode()).digest()[:8]
        return base64.b64encode(
            flag + salt + _mac(self._key, flag, salt, thinking)
        ).decode()

    def verify(self, thinking: str, signature: str) -> bool:
        """Whether *signature* is this fake's signature of *thinking*."""
        raw = decode_base64(signature)
        if raw is None or len(raw) != _SIZE or raw[:1] not in (_FULL, _OMITTED):
            return False
        flag, salt, mac = raw[:1], raw[1:9], raw[9:]
        return hmac.compare_digest(mac, _mac(self._key, flag, salt, thinking))
