"""The OpenAPI document of a build (GET /v2/actor-builds/:buildId/openapi.json): how to run it.

What Apify generates for a build, made here from Greenroom's rows: OpenAPI 3.0.1, `info` with the
actor's title and description, the version and `x-build-id`; one server, this API's /v2; three
POST operations on the actor (`username~name`): run-sync-get-dataset-items, runs and run-sync,
each taking the input as a JSON body and the token as a query parameter; and two component
schemas, `inputSchema` (the request body) and `runsResponseSchema` (what POST .../runs answers).

`inputSchema` is the build's input schema when its files have one (read by server/actor_definition.py:
`.actor/actor.json`'s `input`,
inline or a path, else `.actor/input_schema.json`, else `INPUT_SCHEMA.json`), reduced to the JSON
Schema keywords: the editor hints of Apify's input schema format (editor, prefill, sectionCaption,
enumTitles, ...) are not JSON Schema and are left out, as Apify leaves them out. Without one, the
body is any JSON object.
"""

from __future__ import annotations

import json
from typing import Any

from server.actor_definition import definition
from server.storage.models import Actor, Build

# JSON Schema keywords OpenAPI 3.0 understands, kept from an input schema's fields.
_KEPT = frozenset(
    {
        "type",
        "title",
        "description",
        "default",
        "enum",
        "format",
        "pattern",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "uniqueItems",
        "multipleOf",
        "nullable",
        "example",
        "additionalProperties",
    }
)
_NESTED = ("properties", "items", "required")


def _input_schema(build: Build) -> dict[str, Any] | None:
    """The build's input schema as its files give it (server/actor_definition.py reads them)."""
    text = definition(build.source).input_schema
    return json.loads(text) if text else None


def _json_schema(node: Any) -> Any:
    """An input schema (or one of its fields) with only JSON Schema keywords, recursively."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {k: v for k, v in node.items() if k in _KEPT}
    if isinstance(node.get("properties"), dict):
        out["properties"] = {name: _json_schema(field) for name, field in node["properties"].items()}
    if isinstance(node.get("items"), dict):
        out["items"] = _json_schema(node["items"])
    if isinstance(node.get("required"), list) and node["required"]:
        out["required"] = [r for r in node["required"] if isinstance(r, str)]
    return out


def body_schema(schema: dict[str, Any] | None) -> dict[str, Any]:
    if schema is None:
        return {"type": "object", "properties": {}}
    return {"type": "object", **_json_schema(schema)} | {"type": "object"}


def _runs_response_schema() -> dict[str, Any]:
    """The run object POST .../runs answers with (the fields Greenroom's run has)."""
    string, integer, number = {"type": "string"}, {"type": "integer"}, {"type": "number"}
    nullable_string = {"type": "string", "nullable": True}
    run = {
        "type": "object",
        "properties": {
            "id": string,
            "actId": string,
            "userId": string,
            "actorTaskId": nullable_string,
            "startedAt": {"type": "string", "format": "date-time"},
            "finishedAt": {"type": "string", "format": "date-time", "nullable": True},
            "status": string,
            "statusMessage": nullable_string,
            "meta": {"type": "object", "properties": {"origin": string, "userAgent": nullable_string}},
            "stats": {
                "type": "object",
                "properties": {
                    "inputBodyLen": integer,
                    "restartCount": integer,
                    "resurrectCount": integer,
                    "computeUnits": number,
                },
            },
            "options": {
                "type": "object",
                "properties": {
                    "build": string,
                    "timeoutSecs": integer,
                    "memoryMbytes": integer,
                    "diskMbytes": integer,
                },
            },
            "buildId": string,
            "buildNumber": string,
            "exitCode": {"type": "integer", "nullable": True},
            "defaultKeyValueStoreId": string,
            "defaultDatasetId": string,
            "defaultRequestQueueId": string,
            "usageTotalUsd": number,
        },
    }
    return {"type": "object", "properties": {"data": run}}


def _operation(op_id: str, summary: str, response: dict[str, Any]) -> dict[str, Any]:
    return {
        "post": {
            "operationId": op_id,
            "x-openai-isConsequential": False,
            "summary": summary,
            "tags": ["Run Actor"],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/inputSchema"}}},
            },
            "parameters": [
                {
                    "name": "token",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "string"},
                    "description": "Your API token (an Authorization: Bearer header works too).",
                }
            ],
            "responses": {"200": response},
        }
    }


def openapi_document(actor: Actor, username: str, build: Build, base_url: str) -> dict[str, Any]:
    slug = f"{username}~{actor.name}"
    op_suffix = f"{username}-{actor.name}"
    runs_response = {
        "description": "OK",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/runsResponseSchema"}}},
    }
    ok = {"description": "OK"}
    info: dict[str, Any] = {"title": actor.title or actor.name}
    if actor.description:
        info["description"] = actor.description
    info |= {"version": build.version_number, "x-build-id": build.id}
    return {
        "openapi": "3.0.1",
        "info": info,
        "servers": [{"url": f"{base_url}/v2"}],
        "paths": {
            f"/acts/{slug}/run-sync-get-dataset-items": _operation(
                f"run-sync-get-dataset-items-{op_suffix}",
                "Runs the Actor, waits for it to finish and answers with its default dataset's items.",
                ok,
            ),
            f"/acts/{slug}/runs": _operation(
                f"runs-sync-{op_suffix}",
                "Starts a run of the Actor and answers at once with the run object.",
                runs_response,
            ),
            f"/acts/{slug}/run-sync": _operation(
                f"run-sync-{op_suffix}",
                "Runs the Actor, waits for it to finish and answers with its OUTPUT record.",
                ok,
            ),
        },
        "components": {
            "schemas": {
                "inputSchema": body_schema(_input_schema(build)),
                "runsResponseSchema": _runs_response_schema(),
            }
        },
    }
