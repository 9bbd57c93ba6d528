"""server/input_schema/ without a server: Apify's rules for a schema, and inputs worded as the platform
words them (Ajv's messages after `Field input.<path>`)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from server.actor_definition import definition
from server.input_schema import InputRejected, InputSchema, build_problem, of_source, prepare_input, rules


def _field(kind: Any = "string", **more: Any) -> dict[str, Any]:
    field: dict[str, Any] = {"title": "T", "type": kind, "description": "D"}
    if kind in ("string", "array", "object"):
        field["editor"] = {"string": "textfield", "array": "json", "object": "json"}[kind]
    return field | more


def _schema(required: list[str] | None = None, **fields: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = {"title": "S", "type": "object", "schemaVersion": 1, "properties": fields}
    if required is not None:
        schema["required"] = required
    return schema


def _error(schema: dict[str, Any], given: Any) -> str:
    with pytest.raises(InputRejected) as rejected:
        prepare_input(InputSchema.of(schema), given)
    return str(rejected.value).removeprefix("Input is not valid: ")


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        ({"type": "object", "schemaVersion": 1, "properties": {}}, "field schema.title is required"),
        (_schema() | {"schemaVersion": 2}, "field schema.schemaVersion must be 1"),
        (_schema() | {"extra": 1}, "property schema.extra is not allowed"),
        (
            _schema(["missing"]),
            "field schema.required names 'missing', which schema.properties does not define",
        ),
        (
            _schema(a={"type": "string", "title": "A", "editor": "textfield"}),
            "field schema.properties.a.description is required",
        ),
        (_schema(a=_field("date")), "field schema.properties.a.type must be one of"),
        (_schema(a=_field(editor="checkbox")), "field schema.properties.a.editor must be one of"),
        (_schema(a=_field("array") | {"editor": None}), "field schema.properties.a.editor is required"),
        (
            _schema(a=_field("integer", default="3")),
            "field schema.properties.a.default must be of type integer",
        ),
        (_schema(a=_field("integer", minimum=1.5)), "field schema.properties.a.minimum must be an integer"),
        (_schema(a=_field("boolean", pattern="x")), "property schema.properties.a.pattern is not allowed"),
        (
            _schema(a=_field(pattern="(")),
            'the regular expression "(" in field schema.properties.a must be valid',
        ),
        (
            _schema(a=_field("array", patternValue=".")),
            "property schema.properties.a.patternValue is deprecated",
        ),
        (_schema(a=_field(editor="select")), "field schema.properties.a with the select editor needs 'enum'"),
        (
            _schema(a=_field(enum=[])),
            "field schema.properties.a.enum must be a non-empty array of distinct strings",
        ),
        (
            _schema(a=_field("object", properties={"b": {"type": "string"}})),
            "field schema.properties.a.properties.b.title is required",
        ),
    ],
)
def test_apify_rules_reject(schema: dict[str, Any], reason: str) -> None:
    problem = rules.problem(schema)
    assert problem is not None and problem.startswith(f"Input schema is not valid ({reason}"), problem


def test_json_schema_keywords_are_checked_at_any_depth() -> None:
    items = {"type": "integer", "minimum": "5"}
    problem = rules.problem(_schema(a=_field("array", items=items)))
    assert (
        problem
        == "Input schema is not valid (field schema.properties.a.items.minimum: '5' is not of type 'number')"
    )


def test_apify_rules_accept_every_kind_of_field() -> None:
    schema = _schema(
        ["s"],
        s=_field(pattern="^a", minLength=1, maxLength=9, prefill="a", default="a"),
        e={"title": "E", "type": "string", "description": "D", "enum": ["x", "y"], "enumTitles": ["X", "Y"]},
        b=_field("boolean", default=False, groupCaption="G"),
        i=_field("integer", minimum=0, maximum=9, unit="s", editor="number"),
        n=_field("number", minimum=0.5, nullable=True, default=None),
        o=_field("object", editor="proxy"),
        a=_field("array", editor="requestListSources", minItems=1),
        r={"title": "R", "type": "string", "description": "D", "resourceType": "dataset"},
        m={"title": "M", "type": ["string", "integer"], "description": "D", "editor": "json"},
        d=_field(editor="datepicker", dateType="absolute"),
    )
    assert rules.problem(schema) is None


def test_the_files_decide_which_schema_a_build_has() -> None:
    def source(files: dict[str, str]) -> dict[str, Any]:
        return {"sourceFiles": [{"name": n, "format": "TEXT", "content": c} for n, c in files.items()]}

    good = json.dumps(_schema(a=_field()))
    assert build_problem(source({"main.py": ""})) is None and of_source(source({})).schema is None
    assert of_source(source({"INPUT_SCHEMA.json": good})).schema is not None
    inline = json.dumps({"actorSpecification": 1, "input": json.loads(good)})
    assert of_source(source({".actor/actor.json": inline})).schema is not None
    named = json.dumps({"actorSpecification": 1, "input": "./in.json"})
    assert "'./in.json'" in str(build_problem(source({".actor/actor.json": named})))
    assert build_problem(source({".actor/actor.json": named, ".actor/in.json": good})) is None
    # `inputSchema`, the name Apify's templates use now, as `input`; shown as Apify shows it: `input`.
    renamed = {".actor/actor.json": named.replace('"input"', '"inputSchema"'), ".actor/in.json": good}
    assert of_source(source(renamed)).schema is not None
    shown = definition(source(renamed)).actor_definition
    assert shown == {"actorSpecification": 1, "input": json.loads(good)}
    assert "not a JSON object" in str(build_problem(source({".actor/input_schema.json": "[1]"})))
    assert (
        build_problem(source({".actor/actor.json": "{"}))
        == ".actor/actor.json is not valid: it is not a JSON object"
    )


def test_defaults_fill_only_missing_top_level_properties() -> None:
    schema = _schema(
        a=_field(default="x", prefill="p"),
        b=_field("integer", default=2),
        c=_field("object", default={"k": [1]}),
        d=_field(prefill="only prefill"),
        n=_field(nullable=True, default="y"),
    )
    parsed = InputSchema.of(schema)
    assert prepare_input(parsed, None) == {"a": "x", "b": 2, "c": {"k": [1]}, "n": "y"}
    assert prepare_input(parsed, {"a": "given", "n": None}) == {
        "a": "given",
        "n": None,
        "b": 2,
        "c": {"k": [1]},
    }
    filled = prepare_input(parsed, {})
    filled["c"]["k"].append(2)
    assert prepare_input(parsed, {})["c"] == {"k": [1]}  # each run gets its own copy


def test_errors_in_the_platforms_words() -> None:
    schema = _schema(
        ["url"],
        url=_field(),
        tags=_field("array", uniqueItems=True, minItems=1),
        obj=_field(
            "object", properties={"inner": _field("integer")}, required=["inner"], additionalProperties=False
        ),
        ratio=_field("number", minimum=0.5),
        name=_field(minLength=3),
    )
    assert _error(schema, {}) == "Field input.url is required"
    assert _error(schema, {"url": "u", "tags": []}) == "Field input.tags must NOT have fewer than 1 items"
    assert _error(schema, {"url": "u", "tags": [1, 2, 1]}) == (
        "Field input.tags must NOT have duplicate items (items ## 2 and 0 are identical)"
    )
    assert _error(schema, {"url": "u", "obj": {}}) == "Field input.obj.inner is required"
    assert _error(schema, {"url": "u", "obj": {"inner": 1, "x": 1}}) == "Property input.obj.x is not allowed."
    assert _error(schema, {"url": "u", "obj": {"inner": "1"}}) == "Field input.obj.inner must be integer"
    assert _error(schema, {"url": "u", "ratio": 0.25}) == "Field input.ratio must be >= 0.5"
    assert (
        _error(schema, {"url": "u", "name": "ab"}) == "Field input.name must NOT have fewer than 3 characters"
    )
    assert _error(schema, {"url": None}) == "Field input.url must be string"
    assert (
        _error(schema | {"additionalProperties": False}, {"url": "u", "zz": 1})
        == "Property input.zz is not allowed."
    )
    assert _error(schema, [1]) == "the input must be a JSON object"
    # `required` first, as Ajv checks it before the properties.
    assert _error(schema, {"ratio": 0}) == "Field input.url is required"
    nullable = _schema(["n"], n=_field(nullable=True))
    assert prepare_input(InputSchema.of(nullable), {"n": None}) == {"n": None}


def test_proxy_editor_checks() -> None:
    schema = _schema(["proxy"], proxy=_field("object", editor="proxy"))
    assert _error(schema, {"proxy": {}}) == "Field input.proxy is required"
    assert _error(schema, {"proxy": {"useApifyProxy": False}}) == (
        "Field input.proxy is required. Please provide custom proxy URLs or use Apify Proxy."
    )
    assert _error(schema, {"proxy": {"proxyUrls": ["localhost"]}}).startswith(
        'Proxy URL "localhost" has invalid format'
    )
    assert _error(schema, {"proxy": {"proxyUrls": ["http://a:b@h:80"], "apifyProxyCountry": "US"}}) == (
        "The country for Apify Proxy can be specified only when using Apify Proxy."
    )
    assert _error(schema, {"proxy": {"useApifyProxy": True, "apifyProxyCountry": "usa"}}).startswith(
        'Country code "usa" is invalid'
    )
    ok = {
        "proxy": {"useApifyProxy": False, "proxyUrls": ["socks5://h.example:1080", "http://u:p@1.2.3.4:8000"]}
    }
    assert prepare_input(InputSchema.of(schema), ok) == ok


def test_actor_json_storages_are_resolved_as_apify_shows_them() -> None:
    dataset = {"actorSpecification": 1, "fields": {}, "views": {}}
    spec = {
        "actorSpecification": 1,
        "storages": {"dataset": "./dataset_schema.json", "keyValueStore": {"k": 1}},
    }
    files = {".actor/actor.json": json.dumps(spec), ".actor/dataset_schema.json": json.dumps(dataset)}
    shown = definition(
        {"sourceFiles": [{"name": n, "content": c} for n, c in files.items()]}
    ).actor_definition
    assert shown is not None and shown["storages"] == {"dataset": dataset, "keyValueStore": {"k": 1}}
