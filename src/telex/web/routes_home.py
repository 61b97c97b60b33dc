"""``GET /`` when the demo is off: a small page saying what this server is and where to go next.

The banner of ``telex serve`` prints the server's URL, and a person opens it: a JSON 404 there
reads as a broken server. The page is static (no script, no secret, nothing about this node that
``/openapi.json`` does not already say) and served with a Content-Security-Policy that allows
only its own inline style.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from telex import __version__

__all__ = ["HOME_CSP", "home_router"]

HOME_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)

_PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Telex</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 42rem; margin: 3rem auto; padding: 0 1rem; }}
code {{ background: #f2f2f2; padding: 0 .25rem; border-radius: 3px; }}
</style>
</head>
<body>
<h1>Telex {__version__}</h1>
<p>This is a Telex server: self-hosted communication services (identity, chat, calls, STUN/TURN)
whose REST API is wire-compatible with Azure Communication Services. Applications reach it with
the official Azure SDKs, changing only the connection string (<code>telex connection-string</code>
prints it), or with the browser SDK at <a href="/sdk/telex.js"><code>/sdk/telex.js</code></a>.</p>
<ul>
<li>API description (OpenAPI): <a href="/openapi.json"><code>/openapi.json</code></a></li>
<li>Health: <a href="/healthz"><code>/healthz</code></a>,
readiness: <a href="/readyz"><code>/readyz</code></a>,
metrics: on the admin listener (loopback by default)</li>
<li>Documentation: <code>README.md</code> and the <code>docs/</code> folder of the Telex source;
<code>telex --help</code></li>
</ul>
<p>To try calls and chat in a browser, start the server with the demo app:
<code>telex serve --demo</code> (or <code>[demo] enabled = true</code>), then open this page again.
The demo signs in anyone who opens it: use it for trials only.</p>
</body>
</html>
"""


def home_router() -> APIRouter:
    router = APIRouter(tags=["home"], include_in_schema=False)

    @router.get("/", response_class=HTMLResponse)
    async def home() -> HTMLResponse:
        # nosniff comes from the request-context middleware, on every response.
        return HTMLResponse(_PAGE, headers={"Content-Security-Policy": HOME_CSP})

    return router
