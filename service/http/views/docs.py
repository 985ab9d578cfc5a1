"""API documentation: `/openapi.json` and `/docs`, a self-contained page rendered from it.

The page needs nothing from the internet (no Swagger UI bundle): plain HTML and a little CSS,
built from the same document, so it lists exactly what /openapi.json does.
"""

from __future__ import annotations

import json
import re
from html import escape
from typing import Any

from aiohttp import web

from service.http import openapi

routes = web.RouteTableDef()
# Filled on the first request, when every route is known; a holder because a started app is frozen.
SPEC: web.AppKey[dict[str, dict[str, Any]]] = web.AppKey("openapi_spec")


def install(app: web.Application) -> None:
    app[SPEC] = {}
    app.add_routes(routes)


def spec_of(app: web.Application) -> dict[str, Any]:
    holder = app[SPEC]
    if "spec" not in holder:
        holder["spec"] = openapi.build(app)
    return holder["spec"]


@routes.get("/openapi.json")
@openapi.operation(
    tags=("docs",),
    responses={200: openapi.Response("The document", {"type": "object"})},
)
async def openapi_json(request: web.Request) -> web.Response:
    """This API's OpenAPI 3.1 document."""
    body = json.dumps(spec_of(request.app), ensure_ascii=False, indent=1)
    return web.Response(text=body, content_type="application/json", headers={"Cache-Control": "no-cache"})


@routes.get("/docs")
@openapi.operation(
    tags=("docs",),
    responses={200: openapi.Response("An HTML page", {"type": "string"}, content_type="text/html")},
)
async def docs_page(request: web.Request) -> web.Response:
    """Human-readable API documentation."""
    return web.Response(text=render(spec_of(request.app)), content_type="text/html", charset="utf-8")


# --------------------------------------------------------------------------- rendering
CSS = """
body{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem 1.5rem;color:#1d2327}
h1{margin-bottom:.2rem}h2{border-bottom:2px solid #ddd;margin-top:2.5rem}code,pre{font:13px ui-monospace,monospace}
.op{border:1px solid #ddd;border-radius:6px;margin:1rem 0;padding:.6rem 1rem}
.op>summary{cursor:pointer;font-weight:600}.m{display:inline-block;min-width:4.2rem;text-transform:uppercase;
color:#fff;border-radius:4px;padding:0 .4rem;margin-right:.5rem;text-align:center;font-size:13px}
.get{background:#2271b1}.post{background:#008a20}.put,.patch{background:#996800}.delete{background:#d63638}
table{border-collapse:collapse;width:100%;margin:.4rem 0}td,th{border-top:1px solid #eee;padding:.25rem .4rem;
text-align:left;vertical-align:top}th{font-weight:600;background:#f6f7f7}nav a{margin-right:1rem}
.muted{color:#666}.about{margin:.3rem 0 .8rem}
"""


# The sections of the page, in the order a newcomer needs them, each with what it is for.
TAGS: dict[str, str] = {
    "public": "What a portal's pages call for their readers: submit a comment, list the approved ones, "
    "captchas and form tokens. No account needed.",
    "portal": "Pages and the script a portal embeds: this service's landing page, `/widget.js` and the "
    "`/demo` article page.",
    "queue": "The moderators' review queue: claim the most urgent comments, decide, release, undo; the "
    "header's stats and the live event stream.",
    "moderator UI": "The moderator UI's pages (HTML, session cookie).",
    "admin": "Administration: moderators and their tokens, portals' API keys, bans.",
    "model": "The spam model: which version scores, and reloading it.",
    "ops": "For operators: liveness, readiness, Prometheus metrics.",
    "docs": "This page and the OpenAPI document it is built from.",
}
_CODE = re.compile(r"`([^`]+)`")


def _text(value: Any) -> str:
    """Prose from the document as HTML: escaped, with `inline code` as <code> (no raw backticks)."""
    return _CODE.sub(r"<code>\1</code>", escape(str(value)))


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        resolved: dict[str, Any] = spec["components"]["schemas"].get(ref.rsplit("/", 1)[1], {})
        return resolved
    return schema


def _type_of(spec: dict[str, Any], schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[1]
    if "anyOf" in schema:
        return " | ".join(_type_of(spec, s) for s in schema["anyOf"])
    if schema.get("type") == "array":
        return f"array of {_type_of(spec, schema.get('items', {}))}"
    rules = [
        f"{label} {schema[key]}"
        for key, label in (("minLength", "min"), ("maxLength", "max"), ("minimum", "≥"), ("maximum", "≤"))
        if key in schema
    ]
    if "pattern" in schema:
        rules.append(f"pattern {schema['pattern']}")
    return str(schema.get("type", "any")) + (f" ({', '.join(rules)})" if rules else "")


def _schema_table(spec: dict[str, Any], schema: dict[str, Any]) -> str:
    target = _resolve(spec, schema)
    props: dict[str, Any] = target.get("properties", {})
    if not props:
        return f"<p><code>{escape(_type_of(spec, schema))}</code></p>"
    required = set(target.get("required", []))
    rows = "".join(
        f"<tr><td><code>{escape(name)}</code>{' *' if name in required else ''}</td>"
        f"<td><code>{escape(_type_of(spec, sub))}</code></td><td>{_text(sub.get('description', ''))}</td></tr>"
        for name, sub in props.items()
    )
    title = escape(str(target.get("title", "")))
    head = "<tr><th>field</th><th>type</th><th>notes</th></tr>"
    return f"<p class=muted>{title} (* required)</p><table>{head}{rows}</table>"


def _who(security: list[dict[str, list[str]]]) -> str:
    """The security requirements in words: alternatives joined by "or", `{}` being anyone."""
    if not security:
        return "anyone"
    ways = [
        " + ".join(f"{scheme} ({', '.join(roles)})" if roles else scheme for scheme, roles in need.items()) or "anyone"
        for need in security
    ]
    return " or ".join(ways)


def _operation(spec: dict[str, Any], method: str, path: str, op: dict[str, Any]) -> str:
    parts = [
        f"<details class=op id={escape(op.get('operationId', ''))}><summary><span class='m {method}'>{method}</span>"
        f"<code>{escape(path)}</code> — {_text(op.get('summary', ''))}</summary>"
    ]
    if op.get("description"):
        parts.append(f"<p>{_text(op['description'])}</p>")
    parts.append(f"<p class=muted>Who may call it: {escape(_who(op.get('security', [])))}</p>")
    params = op.get("parameters", [])
    if params:
        rows = "".join(
            f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p['in'])}</td>"
            f"<td><code>{escape(_type_of(spec, p.get('schema', {})))}</code></td>"
            f"<td>{_text(p.get('description', ''))}</td></tr>"
            for p in params
        )
        parts.append(
            f"<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th><th>notes</th></tr>{rows}</table>"
        )
    body = op.get("requestBody")
    if body:
        types = ", ".join(body["content"])
        first = next(iter(body["content"].values()))
        parts.append(f"<h4>Request body</h4><p class=muted>{escape(types)}</p>{_schema_table(spec, first['schema'])}")
    rows = ""
    for status, resp in op.get("responses", {}).items():
        content = resp.get("content", {})
        shape = ", ".join(f"{escape(ct)}: {escape(_type_of(spec, c.get('schema', {})))}" for ct, c in content.items())
        headers = ", ".join(resp.get("headers", {}))
        rows += (
            f"<tr><td>{escape(status)}</td><td>{_text(resp.get('description', ''))}</td>"
            f"<td><code>{shape}</code></td><td>{escape(headers)}</td></tr>"
        )
    parts.append(
        f"<h4>Responses</h4><table><tr><th>status</th><th>meaning</th><th>body</th><th>headers</th></tr>{rows}</table>"
    )
    parts.append("</details>")
    return "".join(parts)


def render(spec: dict[str, Any]) -> str:
    """The whole documentation page, grouped by tag, with every schema listed at the end."""
    groups: dict[str, list[str]] = {}
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            # aiohttp's static file route carries no operation of ours: the UI's script and styles.
            fallback = "moderator UI" if path.startswith("/static/") else "other"
            tag = (op.get("tags") or [fallback])[0]
            groups.setdefault(tag, []).append(_operation(spec, method, path, op))
    known = {str(t["name"]): str(t.get("description", "")) for t in spec.get("tags", []) if "name" in t}
    about = {**TAGS, **known}
    order = [t for t in about if t in groups] + sorted(t for t in groups if t not in about)
    anchor = {tag: "tag-" + re.sub(r"[^a-z0-9]+", "-", tag.lower()).strip("-") for tag in order}
    sections = "".join(
        f"<section aria-labelledby={anchor[tag]}><h2 id={anchor[tag]}>{escape(tag)}</h2>"
        f"<p class=about>{_text(about.get(tag, ''))}</p>{''.join(groups[tag])}</section>"
        for tag in order
    )
    nav = "".join(f"<a href='#{anchor[t]}'>{escape(t)}</a>" for t in order)
    schemas = "".join(
        f"<details class=op id=schema-{escape(name)}><summary><code>{escape(name)}</code></summary>"
        f"{_schema_table(spec, schema)}</details>"
        for name, schema in spec["components"]["schemas"].items()
    )
    info = spec["info"]
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{escape(info['title'])} API</title><style>{CSS}</style></head><body>"
        f"<h1>{escape(info['title'])} API <small class=muted>v{escape(info['version'])}</small></h1>"
        f"<p>{_text(info.get('description', ''))}</p>"
        "<p>Machine-readable: <a href='/openapi.json'>/openapi.json</a> (OpenAPI 3.1).</p>"
        f"<nav>{nav}<a href='#schemas'>schemas</a></nav>{sections}<h2 id=schemas>schemas</h2>{schemas}"
        "</body></html>"
    )
