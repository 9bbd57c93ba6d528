"""Actors' input schemas: found in a build's files, checked against Apify's rules, and used to fill
in and validate a run's input. Pure (no database, no HTTP), so the API and the workers share it:

- `of_source(source)`: a build's schema (server/actor_definition.py finds the file), or why Apify's
  rules reject it (rules.py); a rejected schema fails the build, with the reason in its log.
- `prepare_input(schema, given)`: the input with the schema's defaults filled in, or
  `InputRejected` with the platform's message (validator.py, messages.py, editors.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.actor_definition import definition
from server.input_schema import rules
from server.input_schema.validator import InputSchema

__all__ = [
    "NO_SCHEMA",
    "BuildInputSchema",
    "InputRejected",
    "InputSchema",
    "build_problem",
    "of_source",
    "prepare_input",
]


class InputRejected(Exception):
    """Raised by prepare_input when the input breaks the schema; the message is the platform's."""


@dataclass(frozen=True)
class BuildInputSchema:
    schema: InputSchema | None  # None: the build has no input schema, or a rejected one
    problem: str | None = None  # why Apify's rules reject the build's schema


NO_SCHEMA = BuildInputSchema(None)


def of_source(source: dict[str, Any]) -> BuildInputSchema:
    """The input schema of a build made from `source` (a version's snapshot)."""
    made = definition(source)
    if made.input_problem is not None:
        return BuildInputSchema(None, made.input_problem)
    if made.input_schema_value is None:
        return NO_SCHEMA
    problem = rules.problem(made.input_schema_value)
    if problem is not None:
        return BuildInputSchema(None, problem)
    return BuildInputSchema(InputSchema.of(made.input_schema_value))


def build_problem(source: dict[str, Any]) -> str | None:
    """Why a build of `source` must fail for its input schema, or None (the builds' one hook)."""
    return of_source(source).problem


def prepare_input(schema: InputSchema, given: Any) -> dict[str, Any]:
    """The input a run gets: `given` (a JSON object; None for none) with the defaults filled in.
    Raises InputRejected naming the first field in error."""
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise InputRejected("Input is not valid: the input must be a JSON object")
    filled = schema.with_defaults(given)
    errors = schema.errors(filled)
    if errors:
        raise InputRejected(f"Input is not valid: {errors[0]}")
    return filled
