"""Apify's split OpenAPI 3.1 spec, bundled at test time, and the operations Greenroom serves.

The spec lives in /work/shared/reference/apify-openapi (GREENROOM_APIFY_OPENAPI overrides it): a root
openapi.yaml with relative `$ref`s (`file.yaml#/pointer`) into paths/ and components/. Only the
path items Greenroom serves are resolved, by inlining every `$ref` (the spec has no cycles; a cycle
would raise). The covered operations come from the route table itself, so a new route is checked
as soon as it is registered.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from starlette.routing import Route

from server.routes import routes

SPEC_ROOT = (
    Path(os.environ.get("GREENROOM_APIFY_OPENAPI", "/work/shared/reference/apify-openapi")) / "openapi.yaml"
)
METHODS = ("get", "head", "post", "put", "delete", "patch")


class _Loader(yaml.SafeLoader):
    """YAML as JSON sees it: timestamps stay strings (schemas compare them to JSON strings)."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

# A plain URL with "?" inside a flow sequence (`examples: [https://...?a=b]`) is valid YAML 1.2 but
# PyYAML rejects it (components/schemas/key-value-stores/KeyValueStore.yaml has one). Such a line is
# quoted and parsed again, only when the file does not parse as is.
_FLOW_SCALAR = re.compile(r"^(\s*[\w-]+:\s*)\[([^\"'\[\],]+)\]\s*$", re.MULTILINE)


@cache
def _load(path: Path) -> Any:
    text = path.read_text()
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError:
        quoted = _FLOW_SCALAR.sub(lambda m: f"{m.group(1)}[{json.dumps(m.group(2).strip())}]", text)
        return yaml.load(quoted, Loader=_Loader)


def _pointer(doc: Any, fragment: str) -> Any:
    for raw in (p for p in fragment.split("/") if p):
        part = raw.replace("~1", "/").replace("~0", "~")
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc


def resolve(node: Any, base: Path, seen: tuple[tuple[Path, str], ...] = ()) -> Any:
    """`node` (read from `base`) with every relative `$ref` inlined, recursively."""
    if isinstance(node, list):
        return [resolve(v, base, seen) for v in node]
    if not isinstance(node, dict):
        return node
    if "$ref" not in node:
        return {k: resolve(v, base, seen) for k, v in node.items()}
    file, _, fragment = str(node["$ref"]).partition("#")
    target = (base.parent / file).resolve() if file else base
    key = (target, fragment)
    if key in seen:
        raise ValueError(f"$ref cycle through {target}#{fragment}")
    out = resolve(_pointer(_load(target), fragment), target, (*seen, key))
    siblings = {k: resolve(v, base, seen) for k, v in node.items() if k != "$ref"}
    if siblings and isinstance(out, dict):
        # OpenAPI 3.1: keywords beside $ref apply too (a JSON Schema `allOf` of both).
        return {"allOf": [out], **siblings} if "type" in out or "allOf" in out else {**out, **siblings}
    return out


@cache
def spec_paths() -> dict[str, Any]:
    """The root's path table: spec path template -> unresolved path item ({"$ref": ...})."""
    return dict(_load(SPEC_ROOT.resolve())["paths"])


@cache
def path_item(spec_path: str) -> dict[str, Any]:
    root = SPEC_ROOT.resolve()
    return dict(resolve(spec_paths()[spec_path], root))


def shape(template: str) -> str:
    """A path template with every parameter as {} (names may differ: {logId} vs {buildOrRunId})."""
    return re.sub(r"\{[^}]*\}", "{}", template)


def to_spec_path(greenroom_path: str) -> str | None:
    """The spec's template for a Greenroom route: /v2/acts is Apify's legacy alias of /v2/actors."""
    path = re.sub(r"\{(\w+):\w+\}", r"{\1}", greenroom_path)
    if path == "/v2/acts" or path.startswith("/v2/acts/"):
        path = "/v2/actors" + path[len("/v2/acts") :]
    by_shape = {shape(p): p for p in spec_paths()}
    return by_shape.get(shape(path))


@dataclass(frozen=True)
class Operation:
    method: str  # upper case
    path: str  # Greenroom's template (its parameter names)
    spec_path: str
    params: tuple[str, ...] = field(default=())  # Greenroom's path parameter names, in order

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def spec(self) -> dict[str, Any]:
        return dict(path_item(self.spec_path)[self.method.lower()])

    @property
    def spec_params(self) -> tuple[str, ...]:
        return tuple(re.findall(r"\{(\w+)\}", self.spec_path))


def covered_operations() -> list[Operation]:
    """Every (method, route) Greenroom serves that the spec documents, in route-table order.

    Starlette adds HEAD to every GET route; it counts only where the spec documents HEAD.
    """
    out: list[Operation] = []
    for route in routes():
        if not isinstance(route, Route) or not route.path.startswith("/v2"):
            continue
        spec_path = to_spec_path(route.path)
        if spec_path is None:
            continue
        item = _load_item_methods(spec_path)
        clean = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        names = tuple(re.findall(r"\{(\w+)\}", clean))
        for method in sorted(route.methods or ()):
            if method.lower() in item:
                out.append(Operation(method, clean, spec_path, names))
    return out


def uncovered_routes() -> list[str]:
    """Greenroom's API routes the spec does not document (reported, never validated). The console's
    pages (server/console/, outside /v2) are not part of the API."""
    out = []
    for route in routes():
        if isinstance(route, Route) and route.path.startswith("/v2") and to_spec_path(route.path) is None:
            out.append(route.path)
    return out


def _load_item_methods(spec_path: str) -> set[str]:
    item = spec_paths()[spec_path]
    if "$ref" in item:
        item = _load((SPEC_ROOT.parent / item["$ref"]).resolve())
    return {m for m in item if m in METHODS}


# Error types Greenroom answers that Apify's ErrorType enum does not list, and why.
GREENROOM_ONLY_ERROR_TYPES = {
    "service-unavailable": "503 while Greenroom's database or Redis is unreachable (a self-hosted "
    "outage; Apify documents no such answer, and the clients retry any 5xx)",
    "standby-run-unreachable": "502 when a standby run's server refuses or breaks the connection "
    "(Apify's Standby gateway is outside its API spec, and no type of the spec means it)",
}


@cache
def error_types() -> frozenset[str]:
    """Apify's ErrorType enum: every `error.type` its API answers."""
    path = (SPEC_ROOT.parent / "components/schemas/common/ErrorType.yaml").resolve()
    return frozenset(_load(path)["enum"])
