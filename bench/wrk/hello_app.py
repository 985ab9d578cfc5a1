"""The aiohttp ceiling: one route answering a small JSON object, nothing else (no middleware).

    python bench/wrk/hello_app.py PORT

What one aiohttp process on one core can answer at most, so duyet's rate is judged against it.
"""

from __future__ import annotations

import sys

from aiohttp import web


async def hello(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def main() -> None:
    app = web.Application()
    app.router.add_get("/", hello)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
