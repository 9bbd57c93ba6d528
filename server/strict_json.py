"""JSON from clients, parsed as Apify's Node API parses it (JSON.parse) and bounded, so that what
is accepted can be stored and served back as valid JSON.

Python's json.loads differs from JSON.parse in ways that broke Greenroom (issue 14):
- it accepts NaN, Infinity and -Infinity, and reads 1e400 as inf; stored, they were served back as
  invalid JSON. JSON.parse rejects the words (and reads 1e400 as Infinity, which JSON.stringify
  writes as null); here all four are a 400.
- nesting deeper than the interpreter's recursion limit raised RecursionError (a 500), and nesting
  just under it broke later steps that recurse (json.dumps, input schema validation): nesting is
  bounded by `max_json_depth`.
- integers above 4,300 digits raised ValueError (a 500): digits are bounded by
  `max_json_integer_digits`.
- a lone surrogate escape ("\\ud800") parses into a str that UTF-8 cannot encode, so storing it
  raised UnicodeEncodeError (a 500). JSON.parse accepts it and Node stores UTF-16; Greenroom stores
  UTF-8 text (PostgreSQL refuses lone surrogates), so it is a 400 here. A surrogate pair is one
  character and is fine.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from server.errors import InvalidInput, InvalidRequest
from server.settings import Settings

# A \uD800-\uDFFF escape: only a body holding one can parse into a lone surrogate.
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_TEXT = re.compile(r"\\u[dD][89a-fA-F]")


class _Rejected(ValueError):
    """Raised inside json.loads by the number and constant hooks."""


def _decoder(settings: Settings) -> json.JSONDecoder:
    max_digits = settings.max_json_integer_digits

    def parse_int(raw: str) -> int:
        if len(raw) - raw.startswith("-") > max_digits:
            raise _Rejected(f"an integer has more than {max_digits} digits")
        return int(raw)

    def parse_float(raw: str) -> float:
        value = float(raw)
        if not math.isfinite(value):
            raise _Rejected(f"the number {raw[:40]} is out of range")
        return value

    def parse_constant(name: str) -> Any:
        raise _Rejected(f"{name} is not a JSON value")

    return json.JSONDecoder(parse_int=parse_int, parse_float=parse_float, parse_constant=parse_constant)


@contextmanager
def _parse_errors(max_depth: int) -> Iterator[None]:
    try:
        yield
    except _Rejected as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}.") from None
    except RecursionError:
        raise InvalidRequest(_too_deep(max_depth)) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}") from exc


def _needs_walk(text: bytes | str, max_depth: int) -> tuple[bool, bool]:
    """(walk at all, check strings for surrogates): cheap counts that skip the walk for almost every body."""
    if isinstance(text, bytes):
        brackets = text.count(b"[") + text.count(b"{")
        surrogates = _SURROGATE_ESCAPE_BYTES.search(text) is not None
    else:
        brackets = text.count("[") + text.count("{")
        surrogates = _SURROGATE_ESCAPE_TEXT.search(text) is not None
    return brackets > max_depth or surrogates, surrogates


def loads(text: bytes | str, settings: Settings) -> Any:
    """The JSON value of `text`; InvalidRequest (400) for anything JSON.parse would reject, or that is
    out of the bounds in `settings`, each message naming the bound."""
    max_depth = settings.max_json_depth
    with _parse_errors(max_depth):
        if isinstance(text, bytes):
            text = _text(text)
        value = _decoder(settings).decode(text)
    walk, surrogates = _needs_walk(text, max_depth)
    if walk:
        _check_value(value, max_depth, surrogates)
    return value


def _text(raw: bytes) -> str:
    # As json.loads decodes bytes (UTF-8, -16 or -32 by the first bytes), but strictly: its
    # "surrogatepass" let encoded lone surrogates through, which UTF-8 storage then refused.
    return raw.decode(json.detect_encoding(raw))


_WHITESPACE = re.compile(r"[ \t\n\r]*")


def loads_items(text: bytes, settings: Settings, max_items: int) -> Any:
    """A body that may be an array of many items (a dataset push): like loads, but an array is read one
    item at a time and refused at its (max_items + 1)th item, before the rest is built. One json.loads
    of a million items holds the GIL, and so the event loop, for its whole length."""
    max_depth = settings.max_json_depth
    with _parse_errors(max_depth):
        body = _text(text)
        start = _WHITESPACE.match(body).end()  # type: ignore[union-attr]
        if not body.startswith("[", start):
            return loads(text, settings)
        decoder = _decoder(settings)
        items: list[Any] = []
        pos = _WHITESPACE.match(body, start + 1).end()  # type: ignore[union-attr]
        if body.startswith("]", pos):
            pos += 1
        else:
            while True:
                if len(items) == max_items:
                    raise InvalidInput(
                        f"A push may hold at most {max_items} items; split it into smaller pushes."
                    )
                item, pos = decoder.raw_decode(body, pos)
                items.append(item)
                pos = _WHITESPACE.match(body, pos).end()  # type: ignore[union-attr]
                if body.startswith("]", pos):
                    pos += 1
                    break
                if not body.startswith(",", pos):
                    raise ValueError(f"Expecting ',' delimiter: char {pos}")
                pos = _WHITESPACE.match(body, pos + 1).end()  # type: ignore[union-attr]
        if _WHITESPACE.match(body, pos).end() != len(body):  # type: ignore[union-attr]
            raise ValueError(f"Extra data: char {pos}")
    walk, surrogates = _needs_walk(text, max_depth)
    if walk:
        _check_value(items, max_depth, surrogates)
    return items


def _too_deep(max_depth: int) -> str:
    return f"The request body is not valid JSON: it is nested deeper than {max_depth} levels."


def _check_value(value: Any, max_depth: int, surrogates: bool) -> None:
    """Iterative (a recursive walk is what failed): depth, and lone surrogates in strings and keys."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
            if surrogates:
                for key in node:
                    _check_text(key)
        elif isinstance(node, list):
            children = node
        else:
            if surrogates and isinstance(node, str):
                _check_text(node)
            continue
        if depth > max_depth:
            raise InvalidRequest(_too_deep(max_depth))
        stack.extend(
            (child, depth + 1) for child in children if surrogates or isinstance(child, (dict, list))
        )


def _check_text(text: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(
            "The request body is not valid JSON: a string holds a lone UTF-16 surrogate (\\ud800-\\udfff)."
        ) from None
