"""What every console page does first: find the signed-in user (else off to sign-in), check a POST's
CSRF token, and show a service's error (404 for another user's run, 400 for bad input) as a page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from server.console.forms import read_form
from server.console.session import csrf_ok, signed_in_user
from server.console.templating import page
from server.errors import ApiError
from server.storage.models import User

Handler = Callable[[Request, User, FormData], Awaitable[Response]]


def console_page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    @wraps(handler)
    async def endpoint(request: Request) -> Response:
        user = await signed_in_user(request)
        if user is None:
            if request.method == "GET" and "hx-request" not in request.headers:
                return RedirectResponse(f"/sign-in?next={request.url.path}", 303)
            return Response("Sign in again.", 401)
        form = FormData()
        if request.method == "POST":
            form = await read_form(request)
            if not csrf_ok(request, form):
                return page(
                    request,
                    "error.html",
                    user,
                    403,
                    code=403,
                    message="The form has expired: reload the page.",
                )
        try:
            return await handler(request, user, form)
        except ApiError as exc:
            return page(
                request, "error.html", user, exc.status_code, code=exc.status_code, message=exc.message
            )

    return endpoint
