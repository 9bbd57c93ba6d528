"""Actor Standby's errors, in Apify's envelope (rendered with every ApiError, server/errors.py), with
Apify's error types where one fits (tests/test_error_types.py); the message says which case it is."""

from __future__ import annotations

from server.errors import ApiError


class StandbyDisabled(ApiError):
    status_code = 404
    error_type = "platform-feature-disabled"


class StandbyRunFailed(ApiError):
    """The run started for a request ended before it was ready."""

    status_code = 502
    error_type = "actor-run-failed"


class StandbyUnreachable(ApiError):
    """The run's server refused or broke the connection."""

    status_code = 502
    error_type = "standby-run-unreachable"


class StandbyBusy(ApiError):
    """Every run full, and no more may be started."""

    status_code = 503
    error_type = "too-many-requests"


class StandbyNotReady(ApiError):
    """No run answered its readiness probe in time."""

    status_code = 504
    error_type = "operation-timed-out"


class StandbyTimedOut(ApiError):
    """The run's server did not start answering in time."""

    status_code = 504
    error_type = "operation-timed-out"
