"""Which store errors mean "not now": the store is down, loading, read-only, full or busy.

Such a request is answered 503 with Retry-After (the reader may try again shortly), never 500:
nothing is wrong with the request or with our code, and nothing was written.
"""

from __future__ import annotations

from redis.asyncio import connection as _connection
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


# Where redis-py writes a command to the socket (see `_cut_while_sending`).
_SENDS = frozenset({"send_packed_command", "_send_packed_command"})


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc` says the store cannot serve now, as opposed to a bug or a bad command."""
    if isinstance(exc, _UNAVAILABLE):
        return True
    if isinstance(exc, ResponseError):
        return str(exc).split(" ", 1)[0].upper() in _PREFIXES
    return _cut_while_sending(exc)


def _cut_while_sending(exc: BaseException) -> bool:
    """A write on a connection the store had just cut (a failover, a kill) that redis-py did not
    wrap in a ConnectionError: uvloop refuses it with RuntimeError ("the handler is closed"), and a
    concurrent disconnect can leave no writer (AttributeError). Nothing was sent: not now, not a bug.
    Recognised by where it was raised, so the same errors anywhere else stay a 500."""
    if not isinstance(exc, RuntimeError | AttributeError):
        return False
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename == _connection.__file__ and code.co_name in _SENDS:
            return True
        tb = tb.tb_next
    return False
