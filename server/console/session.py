"""Signing in to the console: the API token in an HttpOnly, SameSite=Strict cookie, and CSRF checks.

The cookie holds the token itself (it is checked by hash, like a Bearer header), so signing out of
one browser revokes nothing and the console needs no session table. Forms are CSRF-safe twice over:
the cookie is SameSite=Strict (a cross-site form post carries no cookie), and every POST must carry
a CSRF token derived from the cookie's token (HMAC), which a page on another site cannot read or
compute; its Origin, when sent, must be this site.
"""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.requests import Request

from server.lifespan import state_of
from server.services.accounts import user_of_token
from server.services.token_use import note_use
from server.storage.models import User

COOKIE = "greenroom_console"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


def console_token(request: Request) -> str | None:
    return request.cookies.get(COOKIE) or None


async def signed_in_user(request: Request, session: AsyncSession | None = None) -> User | None:
    token = console_token(request)
    if token is None:
        return None
    if session is not None:
        holder = await user_of_token(session, token)
    else:
        async with state_of(request).db.read() as own:
            holder = await user_of_token(own, token)
    if holder is None:
        return None
    note_use(state_of(request), holder.token_id, holder.last_used_at)
    return holder.user


def csrf_token(token: str) -> str:
    return hmac.new(token.encode(), b"greenroom-console-csrf", hashlib.sha256).hexdigest()


def csrf_ok(request: Request, form: FormData) -> bool:
    """The form's (or htmx's header's) CSRF token matches the cookie's, and the Origin is ours."""
    token = console_token(request)
    if token is None:
        return False
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        return False
    given = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    return isinstance(given, str) and hmac.compare_digest(given, csrf_token(token))
