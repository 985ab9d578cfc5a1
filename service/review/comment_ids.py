"""Comment ids: 26 characters, a millisecond timestamp then random bits, in Crockford base32.

URL-safe, and they sort by creation time as strings.
"""

from __future__ import annotations

import os
import time

from service.store.keys import Keys

# Crockford base32 (no I, L, O, U): nothing to misread when a moderator copies an id.
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_comment_id(keys: Keys | None = None, partition: int | None = None, now_ms: int | None = None) -> str:
    """A 26-character ULID-like id: 48-bit ms timestamp + 80 random bits, Crockford base32.

    With `keys` and `partition`, draws until the id falls in that partition (a few tries on average).
    """
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    while True:
        value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
        chars = [_CROCKFORD[(value >> (5 * i)) & 31] for i in range(25, -1, -1)]
        cid = "".join(chars)
        if keys is None or partition is None or keys.partition_of(cid) == partition:
            return cid


def valid_id(comment_id: str) -> bool:
    return len(comment_id) == 26 and all(c in _CROCKFORD for c in comment_id)
