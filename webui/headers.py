"""What every answer says about how a browser may treat it (issue 12, served content).

- Every response: `X-Content-Type-Options: nosniff` (a browser never guesses HTML or script from a body) and
  `Referrer-Policy: same-origin`.
- Every page: a Content-Security-Policy without inline script (scripts come from this site only: htmx, bpmn-js and
  the modeller's bundle are files; data for them travels in `<script type="application/json">` blocks, which are
  not run). Styles may be inline: bpmn-js draws with style attributes. Pages are never framed.
- Files that come from users (BPMN diagrams) are served as attachments with a sandboxing policy of their own, so that
  a diagram carrying XHTML and script never runs in a signed-in user's browser (`attachment`).
"""

from __future__ import annotations

from flask import Flask, Response

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
# For a file a user supplied, should a browser render it anyway: nothing runs, nothing loads.
ATTACHMENT_POLICY = "default-src 'none'; sandbox"


def attachment(body: bytes | str, filename: str, mimetype: str) -> Response:
    """A user-supplied file as a download: never rendered inline, never sniffed, sandboxed if opened."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in filename)[:120] or "fil"
    return Response(
        body,
        mimetype=mimetype,
        headers={
            "Content-Disposition": f'attachment; filename="{safe}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": ATTACHMENT_POLICY,
            "Cache-Control": "no-store",
        },
    )


def init_app(app: Flask) -> None:
    @app.after_request
    def _security_headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            response.headers.setdefault("X-Frame-Options", "DENY")
            response.headers.setdefault("Cache-Control", "no-store")
        return response
