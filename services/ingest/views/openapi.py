"""Serves the OpenAPI document and a self-contained HTML page listing every operation."""

from __future__ import annotations

import html
from typing import Any

from aiohttp import web

from services.ingest.openapi import OPENAPI


def _document(app: web.Application) -> dict[str, Any]:
    return app[OPENAPI]


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(_document(request.app))


def render_docs(doc: dict[str, Any]) -> str:
    """Plain HTML with no external assets: the server may sit behind a lab firewall."""
    rows = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            codes = ", ".join(op.get("responses", {}))
            rows.append(f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}"
                        f"</code></td><td>{html.escape(op.get('summary', ''))}</td>"
                        f"<td>{codes}</td></tr>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>shotline API</title>"
        "<style>body{font-family:sans-serif;margin:2em}td{padding:.2em .8em;border-bottom:"
        "1px solid #ddd}</style></head><body>"
        f"<h1>{html.escape(doc['info']['title'])}</h1>"
        f"<p>{html.escape(doc['info']['description'])}</p>"
        "<p>Machine-readable: <a href='/api/v2/openapi.json'>openapi.json</a> (OpenAPI 3.1).</p>"
        "<table><tr><th>method</th><th>path</th><th>what</th><th>status codes</th></tr>"
        + "".join(rows) + "</table></body></html>"
    )


async def docs_page(request: web.Request) -> web.Response:
    return web.Response(text=render_docs(_document(request.app)), content_type="text/html")
