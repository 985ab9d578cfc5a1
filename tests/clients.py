"""Types the tests share: the `make_client` fixture (conftest.py) builds the real app and a test client."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient

MakeClient = Callable[..., Awaitable[TestClient[Any, Any]]]
