"""The user's API tokens (create, list, revoke) and the system page."""

from __future__ import annotations

from datetime import datetime, timedelta

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from server.console.guard import console_page
from server.console.session import console_token
from server.console.templating import page
from server.errors import InvalidInput
from server.lifespan import state_of
from server.services.system import system_view
from server.services.tokens import create_token, list_tokens, revoke_token, token_id_of
from server.storage.ids import utcnow
from server.storage.models import User

MAX_EXPIRY_DAYS = 3650


async def _tokens_page(request: Request, user: User, new_token: str | None = None) -> Response:
    _total, tokens = await list_tokens(state_of(request), user, desc=True)
    current = token_id_of(tokens, console_token(request) or "")
    return page(request, "tokens.html", user, tokens=tokens, current=current, new_token=new_token)


@console_page
async def tokens(request: Request, user: User, form: FormData) -> Response:
    return await _tokens_page(request, user)


@console_page
async def new_token(request: Request, user: User, form: FormData) -> Response:
    """The new token is shown on this response only: it is stored hashed."""
    description = str(form.get("description") or "").strip() or None
    _row, token = await create_token(state_of(request), user, description, _expiry(form))
    return await _tokens_page(request, user, token)


def _expiry(form: FormData) -> datetime | None:
    raw = str(form.get("expires_days") or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_EXPIRY_DAYS:
        raise InvalidInput(
            f"Expires in: a whole number of days from 1 to {MAX_EXPIRY_DAYS}, or empty for never."
        )
    return utcnow() + timedelta(days=int(raw))


@console_page
async def revoke(request: Request, user: User, form: FormData) -> Response:
    await revoke_token(state_of(request), user, request.path_params["tokenId"])
    return RedirectResponse("/tokens", 303)


@console_page
async def system(request: Request, user: User, form: FormData) -> Response:
    view = await system_view(state_of(request))
    if request.query_params.get("live"):
        return page(request, "system_body.html", user, view=view)
    return page(request, "system.html", user, view=view)
