"""Every error type Greenroom can answer is one of Apify's (the spec's ErrorType enum), so clients
that branch on the type (the JS client's `record-not-found`, the CLI's) see what Apify would send.

Read from the source: each `error_type` given to an ApiError (class attribute or keyword) and
Starlette's own 404/405 in server/errors.py. The fuzz test checks the answers themselves.
"""

from __future__ import annotations

import ast
from pathlib import Path

from server import errors
from tests.contract.spec import GREENROOM_ONLY_ERROR_TYPES, error_types

SERVER = Path(errors.__file__).resolve().parent


def _declared_types() -> dict[str, str]:
    """error type -> where it is declared."""
    found: dict[str, str] = {}
    for path in sorted(SERVER.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            is_keyword = isinstance(node, ast.keyword) and node.arg == "error_type"
            is_attribute = isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "error_type" for t in node.targets
            )
            value = getattr(node, "value", None)
            if (
                (is_keyword or is_attribute)
                and isinstance(value, ast.Constant)
                and isinstance(value.value, str)
            ):
                found.setdefault(
                    value.value, f"{path.relative_to(SERVER.parent)}:{getattr(node, 'lineno', 0)}"
                )
    for error_type, _ in errors._HTTP_TYPES.values():
        found.setdefault(error_type, "server/errors.py _HTTP_TYPES")
    return found


def test_every_declared_error_type_is_apifys() -> None:
    declared = _declared_types()
    assert "record-not-found" in declared and "invalid-input" in declared  # the reader works
    foreign = {
        kind: where
        for kind, where in declared.items()
        if kind not in error_types() and kind not in GREENROOM_ONLY_ERROR_TYPES
    }
    assert not foreign, f"error types Apify never answers: {foreign}"


def test_greenroom_only_types_are_still_used() -> None:
    assert set(GREENROOM_ONLY_ERROR_TYPES) <= set(_declared_types())
