"""The hosted UI's two HTML pages: the sign-in form and the error page (no script, no outside assets)."""

from __future__ import annotations

from html import escape

from werkzeug.wrappers import Response

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:22rem;margin:4rem auto;padding:0 1rem}"
    "label,input,button{display:block;width:100%;box-sizing:border-box;margin:.3rem 0}"
    "input,button{padding:.5rem;font-size:1rem}.error{color:#b00020}"
)


def _page(title: str, body: str, status: int) -> Response:
    html = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{STYLE}</style></head>'
        f"<body>{body}</body></html>"
    )
    response = Response(html, status=status, content_type="text/html; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    # The form must not be framed by another site (clickjacking of the password field).
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


def login_page(raw_query: str, *, error: str | None = None, username: str = "") -> Response:
    """Return the sign-in form; it posts the credentials back to the same authorize URL."""
    message = f'<p class="error" id="loginErrorMessage">{escape(error)}</p>' if error else ""
    body = (
        "<h1>Sign in</h1>"
        f"{message}"
        f'<form method="post" action="/oauth2/authorize?{escape(raw_query)}">'
        '<label for="username">Username</label>'
        f'<input id="username" name="username" autocomplete="username" required value="{escape(username)}">'
        '<label for="password">Password</label>'
        '<input id="password" name="password" type="password" autocomplete="current-password" required>'
        '<button type="submit" name="signInSubmitButton">Sign in</button>'
        "</form>"
    )
    return _page("Sign in", body, 200)


def error_page(error: str, description: str, status: int = 400) -> Response:
    """Return the page shown when the request cannot be redirected back (unknown client or redirect)."""
    message = f"{escape(error)}: {escape(description)}"
    body = f'<h1>An error was encountered</h1><p class="error" id="error">{message}</p>'
    return _page("Error", body, status)
