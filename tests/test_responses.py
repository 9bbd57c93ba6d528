"""server/responses.py json_bytes: orjson's bytes read back as what json.dumps gave, for the values a
user's input or a run's stats may hold, including those orjson refuses (then json.dumps writes them)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from server.responses import json_bytes

AWKWARD: list[Any] = [
    {"text": "Příliš žluťoučký 🐴", "quote": '"\\/', "control": "\x00\x1f\x7f", "separator": "\u2028"},
    {"floats": [0.1, 1e16, 1e-7, -0.0, 1.7976931348623157e308, 5e-324], "ints": [-(2**63), 2**64 - 1]},
    {"beyond 64 bits": 2**64, "negative": -(2**63) - 1, "nested": [{"deep": 10**30}]},
    {1: "int key", 2.5: "float key", False: "bool key", None: "null key"},
    {"empty": {}, "list": [], "null": None, "bools": [True, False], "tuple": (1, 2)},
]


@pytest.mark.parametrize("value", AWKWARD)
def test_json_bytes_reads_back_as_json_dumps_did(value: Any) -> None:
    old = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    new = json_bytes(value)
    assert json.loads(new) == json.loads(old)


def test_json_bytes_is_compact_utf8() -> None:
    assert json_bytes({"a": [1, 2], "b": "é"}) == '{"a":[1,2],"b":"é"}'.encode()


def test_a_lone_surrogate_is_refused_as_before() -> None:
    with pytest.raises(UnicodeEncodeError):
        json_bytes({"bad": "\ud800"})
