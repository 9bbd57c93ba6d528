"""The API's error tree, rendered in one place as Apify's envelope.

ApiError (status_code, error_type)
├── InvalidInput            400 invalid-input
├── InvalidInputSchema      400 invalid-input-schema
├── InvalidRequest          400 invalid-request
├── InvalidRecordKey        400 invalid-record-key
├── RunFailed               400 run-failed
├── InvalidSignature        400 invalid-signature
├── TokenNotProvided        401 token-not-provided
├── InvalidToken            401 user-or-token-not-found
├── Forbidden               403 insufficient-permissions
├── NotFound                404 record-not-found (message names the resource)
├── ActorNotFound           404 record-not-found "Actor was not found"
├── MethodNotAllowed        405 method-not-allowed
├── RequestTimeout          408 operation-timed-out
├── RunTimeoutExceeded      408 run-timeout-exceeded
├── LimitExceeded           402 actor-memory-limit-exceeded | concurrent-runs-limit-exceeded
├── NameNotUnique           409 <resource>-name-not-unique
├── RequestTooLarge         413 request-too-large
├── UnsupportedEncoding     415 unsupported-content-encoding
├── RateLimitExceeded       429 rate-limit-exceeded (with Retry-After and X-RateLimit-Limit)
└── ServiceUnavailable      503 service-unavailable
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response


class ApiError(Exception):
    """Raised anywhere under a request to answer with {"error": {"type", "message"}}."""

    status_code = 400
    error_type = "invalid-request"
    headers: Mapping[str, str] = {}  # sent with the error (a 429's Retry-After)

    def __init__(self, message: str, *, status_code: int | None = None, error_type: str | None = None):
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        if error_type is not None:
            self.error_type = error_type


class InvalidInput(ApiError):
    """Raised when a parameter or body field has a bad value."""

    error_type = "invalid-input"


class InvalidInputSchema(ApiError):
    """Raised when a run would use a build whose input schema Apify's rules reject (that build fails)."""

    error_type = "invalid-input-schema"


class InvalidRequest(ApiError):
    """Raised when the request as a whole is malformed (e.g. a body that is not a JSON object)."""

    error_type = "invalid-request"


class InvalidRecordKey(ApiError):
    """Raised when a key-value record key does not match Apify's key regex."""

    error_type = "invalid-record-key"


class RunFailed(ApiError):
    """Raised by run-sync when the run ended in a status other than SUCCEEDED."""

    error_type = "run-failed"

    def __init__(self, run_id: str, status: str):
        super().__init__(f"Actor run did not succeed (run ID: {run_id}, status: {status})")


class InvalidSignature(ApiError):
    """Raised when an encoded value's signature is not this deployment's (tools/decode-and-verify)."""

    error_type = "invalid-signature"


class TokenNotProvided(ApiError):
    """Raised when an endpoint needs a token and none was sent."""

    status_code = 401
    error_type = "token-not-provided"

    def __init__(self) -> None:
        super().__init__("Authentication token was not provided")


class InvalidToken(ApiError):
    """Raised when the token matches no user (Apify answers this type for a bad token)."""

    status_code = 401
    error_type = "user-or-token-not-found"

    def __init__(self) -> None:
        super().__init__("User was not found or authentication token is not valid")


class Forbidden(ApiError):
    """Raised when the token's user may not touch the resource."""

    status_code = 403
    error_type = "insufficient-permissions"

    def __init__(self, message: str = "You do not have permission to perform this action.") -> None:
        super().__init__(message)


class NotFound(ApiError):
    """Raised when a resource does not exist or belongs to someone else."""

    status_code = 404
    error_type = "record-not-found"


class ActorNotFound(NotFound):
    """Raised when an actor id or name resolves to nothing the user owns. `record-not-found`, as the
    API answers and as the clients expect: the JS client's get() returns undefined only for it, and
    `apify push` creates an actor only after it (Apify's spec lists `actor-not-found` too, which no
    client treats as missing)."""

    def __init__(self) -> None:
        super().__init__("Actor was not found")


class MethodNotAllowed(ApiError):
    status_code = 405
    error_type = "method-not-allowed"


class RequestTimeout(ApiError):
    """Raised when a request's body stops arriving for longer than body_timeout_s (server/http_limits.py)."""

    status_code = 408
    error_type = "operation-timed-out"

    def __init__(self, timeout_s: float):
        super().__init__(f"The request body was not received in time (no data for {timeout_s:g} seconds).")


class RunTimeoutExceeded(ApiError):
    """Raised by run-sync when the run outlives the endpoint's wait limit (the run goes on)."""

    status_code = 408
    error_type = "run-timeout-exceeded"

    def __init__(self, wait_s: float, *, stopping: bool = False):
        if stopping:
            super().__init__("The API server is stopping before the Actor run finished; the run goes on")
        else:
            super().__init__(f"Actor run exceeded the timeout of {wait_s:g} seconds for this API endpoint")


class NameNotUnique(ApiError):
    status_code = 409

    def __init__(self, error_type: str):
        super().__init__("Record with the given name already exists.", error_type=error_type)


class RequestTooLarge(ApiError):
    status_code = 413
    error_type = "request-too-large"

    def __init__(self, limit: int, actual: int | None = None):
        actual_text = f", actual length: {actual} bytes" if actual is not None else ""
        super().__init__(f"The POST payload is too large (limit: {limit} bytes{actual_text}).")


class UnsupportedEncoding(ApiError):
    status_code = 415
    error_type = "unsupported-content-encoding"

    def __init__(self, encoding: str):
        super().__init__(f'Content-Encoding "{encoding}" is not supported.')


class LimitExceeded(ApiError):
    """Raised when a run start asks for more than its user's limits allow (server/services/limits.py).
    402, as Apify answers it; the Python client's `wait_for_resources` retries these two types."""

    status_code = 402

    def __init__(self, error_type: str, message: str):
        super().__init__(message, error_type=error_type)


class RateLimitExceeded(ApiError):
    """Raised when a token (or an IP without one) made more requests this second than its limit
    (server/rate_limits.py). The official clients retry a 429 by themselves."""

    status_code = 429
    error_type = "rate-limit-exceeded"

    def __init__(self, limit: int, scope: str, retry_after_s: int):
        super().__init__(
            f"You have exceeded the rate limit of {limit} requests per second ({scope}). "
            f"Please try again later."
        )
        self.headers = {"Retry-After": str(retry_after_s), "X-RateLimit-Limit": str(limit)}


class TooManyInFlight(ApiError):
    """Raised when a caller already has its most requests in progress and waiting on this API
    process (server/in_flight.py): Apify's rate-limit error, which the clients retry."""

    status_code = 429
    error_type = "rate-limit-exceeded"

    def __init__(self, cap: int, queue_cap: int):
        super().__init__(
            f"You have {cap} requests in progress and {queue_cap} waiting on this API server, the most "
            f"one caller may have (GREENROOM_MAX_IN_FLIGHT_PER_CALLER, GREENROOM_MAX_QUEUED_PER_CALLER). "
            f"Please try again later."
        )
        self.headers = {"Retry-After": "1"}


class ServiceUnavailable(ApiError):
    """Raised when the database or Redis cannot be reached; clients retry 5xx."""

    status_code = 503
    error_type = "service-unavailable"


def error_response(status_code: int, error_type: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": error_type, "message": message}}, status_code=status_code)


def api_error_response(exc: ApiError) -> JSONResponse:
    """The answer to an ApiError, with its headers: from the exception handler, and from the
    middlewares that refuse a request before routing (server/rate_limits.py, server/in_flight.py)."""
    response = error_response(exc.status_code, exc.error_type, exc.message)
    response.headers.update(exc.headers)
    return response


async def handle_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return api_error_response(exc)


_HTTP_TYPES = {
    404: ("page-not-found", "The requested page was not found."),
    405: ("method-not-allowed", "This API end-point cannot be accessed using this HTTP method."),
}


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (unknown route, wrong method) in Apify's envelope."""
    assert isinstance(exc, HTTPException)
    error_type, message = _HTTP_TYPES.get(exc.status_code, ("invalid-request", str(exc.detail)))
    return error_response(exc.status_code, error_type, message)


def server_error_response() -> JSONResponse:
    """The answer to a request the app failed on before it answered (a bug)."""
    return error_response(500, "internal-server-error", "Internal server error")
