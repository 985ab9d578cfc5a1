"""Which store errors mean "not now": the store is down, loading, read-only, full or busy.

Such a request is answered 503 with Retry-After (the reader may try again shortly), never 500:
nothing is wrong with the request or with our code, and nothing was written.
"""

from __future__ import annotations

from redis.exceptions import (
    ClusterDownError,
    OutOfMemoryError,
    ReadOnlyError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# Connection refused or reset, timeouts, LOADING (BusyLoadingError is a ConnectionError), a
# replica's READONLY, OOM at maxmemory, CLUSTERDOWN/MASTERDOWN, TRYAGAIN during a resharding.
_UNAVAILABLE = (
    RedisConnectionError,
    RedisTimeoutError,
    ReadOnlyError,
    OutOfMemoryError,
    ClusterDownError,
    TryAgainError,
)
# The same conditions when they arrive as a plain error reply (e.g. raised inside a Lua script),
# and BUSY (a script running past its time limit), which redis-py has no class for.
_PREFIXES = frozenset({"BUSY", "LOADING", "READONLY", "OOM", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "NOREPLICAS"})


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc` says the store cannot serve now, as opposed to a bug or a bad command."""
    if isinstance(exc, _UNAVAILABLE):
        return True
    return isinstance(exc, ResponseError) and str(exc).split(" ", 1)[0].upper() in _PREFIXES
