"""An actor's Dockerfile: which file it is, read into stages by Docker's own parser (the `dockerfile`
package wraps moby/buildkit's), and Docker's variable substitution in the instructions that have it.

Apify builds `.actor/actor.json`'s `dockerfile` (relative to `.actor/`), else `.actor/Dockerfile`,
else `Dockerfile`, with the actor's directory (or actor.json's `dockerContextDir`) as the context.
The files come from the version's row, never from a build directory a step could have changed.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from typing import Any

import dockerfile as parser

from server.actor_definition import source_texts
from worker.builds.steps import BuildFailed


@dataclass(frozen=True)
class Instruction:
    cmd: str  # upper case: RUN, COPY, ...
    line: int
    original: str
    flags: tuple[str, ...]
    value: tuple[str, ...]
    json: bool
    heredoc: bool

    def flag(self, name: str) -> str | None:
        """The value of `--name=value` (or "" for a bare `--name`), None when absent."""
        for flag in self.flags:
            key, equals, value = flag.partition("=")
            if key == f"--{name}":
                return value if equals else ""
        return None


@dataclass
class Stage:
    index: int
    name: str | None
    image: str  # as written: ARGs are substituted when the stage starts
    instructions: list[Instruction] = field(default_factory=list)


@dataclass(frozen=True)
class Dockerfile:
    path: str  # in the actor's files, for messages
    context: str  # the context directory in the actor's files ("" = the whole actor)
    global_args: tuple[Instruction, ...]  # ARGs before the first FROM
    stages: tuple[Stage, ...]
    ignore: tuple[str, ...]  # the context's .dockerignore patterns

    def stage(self, ref: str) -> Stage | None:
        """A stage by name or index, as COPY --from and FROM name it."""
        for stage in self.stages:
            if stage.name is not None and stage.name == ref.lower():
                return stage
        if ref.isdigit() and int(ref) < len(self.stages):
            return self.stages[int(ref)]
        return None


def _inside(path: str, what: str) -> str:
    normal = posixpath.normpath(path)
    if normal.startswith("../") or normal == ".." or posixpath.isabs(normal):
        raise BuildFailed(f"actor.json's {what} {path!r} leads out of the actor's files.")
    return "" if normal == "." else normal


def find(source: dict[str, Any]) -> Dockerfile | None:
    """The actor's Dockerfile, parsed; None when it has none. BuildFailed when actor.json names one
    that is not there, or Docker's parser refuses it."""
    files = source_texts(source)
    base, spec_text = ".actor", files.get(".actor/actor.json")
    if spec_text is None:
        base, spec_text = "", files.get("actor.json")
    try:
        spec = json.loads(spec_text) if spec_text is not None else {}
    except ValueError:
        spec = {}
    spec = spec if isinstance(spec, dict) else {}
    named, context = spec.get("dockerfile"), spec.get("dockerContextDir")
    if isinstance(named, str):
        path = _inside(posixpath.join(base, named), "dockerfile")
        if path not in files:
            raise BuildFailed(
                f"actor.json names the Dockerfile {named!r} ({path}), which is not among the files."
            )
    else:
        path = next((p for p in (".actor/Dockerfile", "Dockerfile") if p in files), "")
        if not path:
            return None
    context_dir = (
        _inside(posixpath.join(base, context), "dockerContextDir") if isinstance(context, str) else ""
    )
    ignore = files.get(posixpath.join(context_dir, ".dockerignore"), "")
    patterns = tuple(
        line.strip() for line in ignore.splitlines() if line.strip() and not line.lstrip().startswith("#")
    )
    return parse(path, files[path], context_dir, patterns)


def parse(path: str, text: str, context: str = "", ignore: tuple[str, ...] = ()) -> Dockerfile:
    try:
        commands = parser.parse_string(text)
    except parser.GoParseError as exc:
        raise BuildFailed(f"{path} cannot be parsed: {exc}") from exc
    global_args: list[Instruction] = []
    stages: list[Stage] = []
    for command in commands:
        instruction = Instruction(
            cmd=command.cmd.upper(),
            line=command.start_line,
            original=command.original,
            flags=tuple(command.flags),
            value=tuple(command.value),
            json=command.json,
            heredoc=bool(command.heredocs),
        )
        if instruction.cmd == "FROM":
            value = instruction.value
            if not value:
                raise BuildFailed(f"{path}:{instruction.line}: FROM names no image.")
            name = value[2].lower() if len(value) == 3 and value[1].upper() == "AS" else None
            stages.append(Stage(len(stages), name, value[0]))
        elif not stages:
            if instruction.cmd != "ARG":
                raise BuildFailed(f"{path}:{instruction.line}: {instruction.cmd} before the first FROM.")
            global_args.append(instruction)
        else:
            stages[-1].instructions.append(instruction)
    if not stages:
        raise BuildFailed(f"{path} has no FROM: it does not say what to build on.")
    return Dockerfile(path, context, tuple(global_args), tuple(stages), ignore)


def expand(text: str, variables: dict[str, str]) -> str:
    """Docker's substitution in ENV, ARG, WORKDIR, COPY, FROM...: $NAME, ${NAME}, ${NAME:-default},
    ${NAME:+alternative}, with quotes removed and backslash escapes, as Docker's shell lexer does."""
    out: list[str] = []
    i, quote = 0, ""
    while i < len(text):
        char = text[i]
        if char == "\\" and quote != "'" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if char in "'\"" and (not quote or quote == char):
            quote = "" if quote else char
            i += 1
            continue
        if char == "$" and quote != "'" and i + 1 < len(text):
            value, i = _variable(text, i + 1, variables)
            out.append(value)
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _variable(text: str, i: int, variables: dict[str, str]) -> tuple[str, int]:
    """The value of the variable at text[i:] (after its `$`) and where the text goes on."""
    if text[i] == "{":
        end = text.find("}", i)
        if end < 0:
            raise BuildFailed(f"missing '}}' in {text!r}")
        body = text[i + 1 : end]
        for operator in (":-", ":+"):
            name, found, word = body.partition(operator)
            if found:
                value = variables.get(name, "")
                if operator == ":-":
                    return (value or expand(word, variables)), end + 1
                return (expand(word, variables) if value else ""), end + 1
        return variables.get(body, ""), end + 1
    j = i
    while j < len(text) and (text[j].isalnum() or text[j] == "_"):
        j += 1
    if j == i:
        return "$", i
    return variables.get(text[i:j], ""), j
