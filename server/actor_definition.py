"""What a build shows of the files it was built from (Apify's Build.actorDefinition, inputSchema and
readme): `.actor/actor.json` with its input schema and README resolved, as Apify reads them when it
builds. The CLI's `apify actors info --input` and `--readme` print these; the Console shows them.

Only what the files say: a missing or unreadable file leaves the field out (or null), never an error,
since a build of any files must still be shown. `input_problem` says why actor.json, or a file that
should hold the input schema, is unusable (server/input_schema/ fails such a build, as Apify does).
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
_RESOLVED = {"input", "inputSchema", "readme", "changelog", "storages", "environmentVariables"}


@dataclass(frozen=True)
class Definition:
    actor_definition: dict[str, Any] | None
    input_schema: str | None  # the schema as JSON text (Apify's Build.inputSchema is a string)
    readme: str | None
    input_schema_value: Any = None  # the schema as parsed (any JSON: its rules are checked elsewhere)
    # Why the build must fail: actor.json, or a file that should hold the input schema, holds no JSON
    # object (a sentence for the build log).
    input_problem: str | None = None


def source_texts(source: dict[str, Any]) -> dict[str, str]:
    """The version's files by normalised name (text; binary files that are not UTF-8 left out)."""
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


def _input_schema(files: dict[str, str], base: str, spec: dict[str, Any]) -> tuple[Any, str | None]:
    """The input schema (None: the files have none) and, when a file that should hold it does not
    hold a JSON object, why (a build of such files fails: server/input_schema/)."""
    # `inputSchema` is the name Apify's templates use now; `input` the older one, still read.
    key = "inputSchema" if "inputSchema" in spec else "input"
    named = spec.get(key)
    if isinstance(named, dict):
        return named, None
    if key in spec:
        text = _beside(files, base, named)
        where = f"The input schema {named!r} named by actor.json's {key!r}"
        if text is None:
            return None, f"Input schema is not valid ({where} is not among the version's files)"
    else:
        where = ".actor/input_schema.json" if ".actor/input_schema.json" in files else "INPUT_SCHEMA.json"
        text = files.get(where)
        if text is None:
            return None, None
    schema = _json_object(text)
    return schema, None if schema is not None else f"Input schema is not valid ({where} is not a JSON object)"


def _storages(files: dict[str, str], base: str, storages: Any) -> dict[str, Any] | None:
    """actor.json's `storages` with each path replaced by the schema it names, as Apify shows them."""
    if not isinstance(storages, dict):
        return None
    resolved = {}
    for kind, value in storages.items():
        schema = value if isinstance(value, dict) else _json_object(_beside(files, base, value))
        if schema is not None:
            resolved[kind] = schema
    return resolved


def definition(source: dict[str, Any]) -> Definition:
    files = source_texts(source)
    base = ".actor"
    text = files.get(".actor/actor.json")
    spec = _json_object(text)
    if spec is None and text is None:
        text = files.get("actor.json")
        base, spec = ".", _json_object(text)
    bad_spec = text is not None and spec is None
    spec = spec or {}
    schema, input_problem = _input_schema(files, base, spec)
    if bad_spec:
        input_problem = f"{posixpath.join(base, 'actor.json')} is not valid: it is not a JSON object"
    shown_schema = json.dumps(schema, indent=2) if schema else None
    readme = _beside(files, base, spec.get("readme"))
    if readme is None and "readme" not in spec:
        readme = files.get("README.md") or files.get(".actor/README.md")
    if not spec:
        return Definition(None, shown_schema, readme, schema, input_problem)
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
    storages = _storages(files, base, spec.get("storages"))
    if storages:
        shown["storages"] = storages
    return Definition(shown, shown_schema, readme, schema, input_problem)


def _is_bool(key: str, value: Any) -> bool:
    """True for a bool where an integer is wanted (bool is an int to isinstance)."""
    return isinstance(value, bool) and bool not in _TYPED[key]
