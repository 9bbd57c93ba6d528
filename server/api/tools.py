"""/v2/tools: encode-and-sign, decode-and-verify (server/encoded_values.py) and browser-info."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from server.api.auth import authenticate
from server.api.body import read_json_object, read_raw
from server.api.params import parse_bool
from server.encoded_values import BadSignature, NotEncoded, decode, encode, signing_key
from server.errors import InvalidInput, InvalidSignature, ServiceUnavailable
from server.lifespan import AppState, state_of
from server.responses import data_response, raw_json_response
from server.secrets import check_key
from server.storage.models import User


def _key(state: AppState) -> bytes:
    if not state.settings.secrets_key:
        raise ServiceUnavailable("GREENROOM_SECRETS_KEY is not set: Greenroom has no key to sign with.")
    return signing_key(check_key(state.settings.secrets_key))


async def encode_and_sign(request: Request) -> Response:
    """POST: the body (a JSON object), encoded with the caller's user id and signed."""
    state = state_of(request)
    user = await authenticate(request)
    value = await read_json_object(request, state.settings.max_body_bytes)
    return data_response({"encoded": encode(value, user.id, _key(state))})


async def decode_and_verify(request: Request) -> Response:
    """POST {"encoded"}: the value back, who encoded it, and whether that user is still a user here
    (Greenroom has no other verification of users). No token needed; a value not signed here is
    400 invalid-signature."""
    state = state_of(request)
    body = await read_json_object(request, state.settings.max_body_bytes)
    encoded = body.get("encoded")
    if not isinstance(encoded, str) or not encoded:
        raise InvalidInput("'encoded' must be a non-empty string.")
    try:
        decoded = decode(encoded, _key(state))
    except NotEncoded as exc:
        raise InvalidInput(str(exc)) from exc
    except BadSignature as exc:
        raise InvalidSignature(str(exc)) from exc
    known = False
    if decoded.user_id is not None and "\x00" not in decoded.user_id:
        async with state.db.read() as session:
            stmt = select(User.id).where(User.id == decoded.user_id)
            known = (await session.execute(stmt)).scalar_one_or_none() is not None
    return data_response(
        {"decoded": decoded.value, "encodedByUserId": decoded.user_id, "isVerifiedUser": known}
    )


async def browser_info(request: Request) -> Response:
    """Any method: the request as the API saw it (Apify's proxy-testing echo). No token needed.
    countryCode is null: Greenroom has no IP geolocation."""
    state = state_of(request)
    params = request.query_params
    body = await read_raw(request, state.settings.max_body_bytes)  # as sent: its length on the wire
    info: dict[str, Any] = {
        "method": request.method,
        "clientIp": request.client.host if request.client else None,
        "countryCode": None,
        "bodyLength": len(body),
    }
    if not parse_bool(params, "skipHeaders"):
        headers: dict[str, Any] = {}
        for name, value in request.headers.items():
            seen = headers.get(name)
            if seen is None:
                headers[name] = value
            else:
                headers[name] = [*seen, value] if isinstance(seen, list) else [seen, value]
        info["headers"] = headers
    if parse_bool(params, "rawHeaders"):
        info["rawHeaders"] = [part.decode("latin-1") for pair in request.headers.raw for part in pair]
    return raw_json_response(info)  # not in a {"data"} envelope, as Apify's
