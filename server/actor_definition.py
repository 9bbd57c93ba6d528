"""What a build shows of the files it was built from (Apify's Build.actorDefinition, inputSchema and
readme): `.actor/actor.json` with its input schema and README resolved, as Apify reads them when it
builds. The CLI's `apify actors info --input` and `--readme` print these; the Console shows them.

Only what the files say: a missing or unreadable file leaves the field out (or null), never an error,
since a build of any files must still be shown.
"""

from __future__ import annotations

import base64
import binascii
import json
import posixpath
from dataclasses import dataclass
from typing import Any

# ActorDefinition's fields with the JSON types Apify's schema gives them; anything else in actor.json
# (title, description, ...) is passed on as it is, since the schema allows more properties.
_TYPED: dict[str, tuple[type, ...]] = {
    "actorSpecification": (int,),
    "name": (str,),
    "version": (str,),
    "buildTag": (str,),
    "dockerfile": (str,),
    "dockerContextDir": (str,),
    "defaultMemoryMbytes": (str, int),
    "minMemoryMbytes": (int,),
    "maxMemoryMbytes": (int,),
    "usesStandbyMode": (bool,),
}
# Paths in actor.json that Apify replaces with the content they point at (or leaves out).
_RESOLVED = {"input", "readme", "changelog", "storages", "environmentVariables"}


@dataclass(frozen=True)
class Definition:
    actor_definition: dict[str, Any] | None
    input_schema: str | None  # the schema as JSON text (Apify's Build.inputSchema is a string)
    readme: str | None


def _texts(source: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for file in source.get("sourceFiles") or []:
        if not isinstance(file, dict) or file.get("folder") or not isinstance(file.get("name"), str):
            continue
        content = file.get("content") or ""
        if file.get("format") == "BASE64":
            try:
                content = base64.b64decode(content).decode()
            except (binascii.Error, ValueError):
                continue
        found[posixpath.normpath(file["name"])] = content
    return found


def _json_object(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _beside(files: dict[str, str], base: str, path: Any) -> str | None:
    """The file `path` names, relative to actor.json's folder (as Apify resolves it)."""
    if not isinstance(path, str):
        return None
    return files.get(posixpath.normpath(posixpath.join(base, path)))


def definition(source: dict[str, Any]) -> Definition:
    files = _texts(source)
    base = ".actor"
    spec = _json_object(files.get(".actor/actor.json"))
    if spec is None:
        base, spec = ".", _json_object(files.get("actor.json"))
    spec = spec or {}
    schema = spec.get("input") if isinstance(spec.get("input"), dict) else None
    if schema is None:
        schema = _json_object(_beside(files, base, spec.get("input")))
    if schema is None and "input" not in spec:
        schema = _json_object(files.get(".actor/input_schema.json") or files.get("INPUT_SCHEMA.json"))
    readme = _beside(files, base, spec.get("readme"))
    if readme is None and "readme" not in spec:
        readme = files.get("README.md") or files.get(".actor/README.md")
    if not spec:
        return Definition(None, json.dumps(schema, indent=2) if schema else None, readme)
    shown = {
        k: v
        for k, v in spec.items()
        if k not in _RESOLVED and (k not in _TYPED or (isinstance(v, _TYPED[k]) and not _is_bool(k, v)))
    }
    env = spec.get("environmentVariables")
    if isinstance(env, dict) and all(isinstance(v, str) for v in env.values()):
        shown["environmentVariables"] = env
    if schema is not None:
        shown["input"] = schema
    if readme is not None:
        shown["readme"] = readme
    return Definition(shown, json.dumps(schema, indent=2) if schema else None, readme)


def _is_bool(key: str, value: Any) -> bool:
    """True for a bool where an integer is wanted (bool is an int to isinstance)."""
    return isinstance(value, bool) and bool not in _TYPED[key]
