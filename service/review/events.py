"""Queue changes as events, on each partition's shard channel (service.http.streams serves them to live UIs).

A script that changes the queue publishes its event itself (SPUBLISH inside the script, on
`Keys.events_channel(partition)`, the payload built here by `payload`), so no crash between the
change and its event loses the event; service.store.channels says why sharded pub/sub.
Events are a hint for live UIs ("something changed, refresh this row"), not the record: the
decision stream is. A UI that misses one (a dropped connection) re-reads the queue. Events carry
no personal data.
"""

from __future__ import annotations

import json
from typing import Any


def payload(kind: str, **data: Any) -> str:
    """An event's message, as the scripts publish it and live UIs read it."""
    return json.dumps({"type": str(kind), **{k: _plain(v) for k, v in data.items()}}, separators=(",", ":"))


def _plain(value: Any) -> Any:
    return str(value) if hasattr(value, "value") else value
