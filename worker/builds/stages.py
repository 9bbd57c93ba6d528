"""A Dockerfile run without Docker: each stage is a directory of the build, its instructions applied
in order, its RUN, COPY and ADD run as build steps (sandboxed, like pip and npm).

Paths: a stage has no filesystem of its own, only the directory its files go to. Its base image's
WORKDIR (/usr/src/app for Apify's images, /home/myuser for their browser images, / for node and
python) is that directory; a WORKDIR before the stage's first COPY or RUN moves it, one below it is
a subdirectory. Image paths under it (`COPY --from=builder /usr/src/app/dist ./dist`, an absolute
CMD argument) map into it; paths elsewhere fail the build, naming the path. RUN commands see the
directories as they are on the worker.

The last stage is the build's app directory (`<key>/app`); earlier ones are `<key>/stages/<n>`,
built only if the last one needs them and removed once it is made. The actor's files (the context)
are `<key>/context`, filtered by its .dockerignore. A Python stage gets a virtualenv before its first
RUN (`<key>/venv` for the last stage), first on PATH, with pip; node_modules/.bin is on PATH too.
"""

from __future__ import annotations

import json
import posixpath
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from worker.builds.dockerfile import Dockerfile, Instruction, Stage, expand
from worker.builds.images import Kind, base_image
from worker.builds.installs import worker_pip_installs_elsewhere
from worker.builds.steps import BuildAborted, BuildFailed, BuildTimedOut, Steps

_FILEOPS = Path(__file__).with_name("fileops.py").read_text()
_IGNORED = {"LABEL", "EXPOSE", "VOLUME", "STOPSIGNAL", "HEALTHCHECK", "MAINTAINER", "ONBUILD"}


@dataclass(frozen=True)
class Image:
    """What the last stage leaves for the runs."""

    workdir: str  # the runs' working directory, relative to the app directory
    env: dict[str, str]  # its ENV (and its base image's)
    command: tuple[str, ...] | None  # ENTRYPOINT + CMD, as Docker joins them
    venv: bool  # it made <key>/venv
    ran_steps: bool  # it has RUN steps: it installs what it needs itself


@dataclass
class _State:
    directory: Path
    venv: Path
    kind: Kind
    root: str  # the image path that `directory` is
    cwd: str  # the WORKDIR, an image path under root
    env: dict[str, str]
    args: dict[str, str] = field(default_factory=dict)
    shell: tuple[str, ...] = ("/bin/sh", "-c")
    cmd: tuple[str, ...] | None = None
    cmd_inherited: bool = True  # from the base image (ENTRYPOINT resets it, as Docker does)
    entrypoint: tuple[str, ...] | None = None
    entrypoint_shell: bool = False
    pip_module: bool = False  # a RUN says `python -m pip`: the virtualenv needs a pip of its own
    touched: bool = False  # a COPY or RUN happened (the WORKDIR can no longer move the root)
    ran: bool = False
    has_venv: bool = False

    def relative(self, path: str) -> str | None:
        """`path` (absolute, normalised) relative to the root, None if outside it."""
        if self.root == "/":
            return path.lstrip("/")
        if path == self.root:
            return ""
        return path[len(self.root) + 1 :] if path.startswith(self.root + "/") else None

    def host(self, path: str, what: str) -> Path:
        """Where an image path (relative: to the WORKDIR) is in the build."""
        absolute = posixpath.normpath(posixpath.join(self.cwd, path))
        relative = self.relative(absolute)
        if relative is None:
            raise BuildFailed(
                f"{what}: {absolute} is outside {self.root}, the stage's WORKDIR: a build without Docker"
                " has the stage's directory only."
            )
        return self.directory / relative if relative else self.directory

    def variables(self) -> dict[str, str]:
        return self.args | self.env


def _lists_packages(instruction: Instruction) -> bool:
    """A RUN that only lists npm packages (`npm ls ...`, `npm list ...`)."""
    words = " ".join(instruction.value).split()
    separators = {"&&", "||", ";", "|", "&"}
    return words[:1] == ["npm"] and words[1:2] in (["ls"], ["list"]) and not separators & set(words)


def needed_stages(dockerfile: Dockerfile) -> set[int]:
    """The last stage and the stages it copies from or builds on (as BuildKit builds only those)."""
    wanted, todo = set(), [dockerfile.stages[-1]]
    while todo:
        stage = todo.pop()
        if stage.index in wanted:
            continue
        wanted.add(stage.index)
        refs = [stage.image] + [ref for i in stage.instructions if (ref := i.flag("from"))]
        for ref in refs:
            if "$" in ref:  # named through an ARG: build every earlier stage rather than guess
                todo.extend(s for s in dockerfile.stages if s.index < stage.index)
            elif (found := dockerfile.stage(ref)) is not None and found.index < stage.index:
                todo.append(found)
    return wanted


def stage_directory(root: Path, dockerfile: Dockerfile, stage: Stage) -> Path:
    return root / "app" if stage is dockerfile.stages[-1] else root / "stages" / str(stage.index)


@dataclass
class Interpreter:
    """Runs one Dockerfile's stages in the build directory `root` (its directories made beforehand)."""

    dockerfile: Dockerfile
    root: Path
    steps: Steps
    build_args: dict[str, str]  # the version's env vars when applyEnvVarsToBuild (Apify's build args)
    _done: dict[int, _State] = field(default_factory=dict)
    _global_args: dict[str, str] = field(default_factory=dict)

    def run(self) -> Image:
        for instruction in self.dockerfile.global_args:
            self._arg(instruction, self._global_args, {})
        wanted = needed_stages(self.dockerfile)
        state: _State | None = None
        for stage in self.dockerfile.stages:
            if stage.index not in wanted:
                self._log(f"Stage {stage.index} ({stage.name or stage.image}) is not needed: skipped.")
                continue
            state = self._start(stage)
            for instruction in stage.instructions:
                self._log(f"{self.dockerfile.path}:{instruction.line} {instruction.original[:300]}")
                self._apply(instruction, state)
            self._done[stage.index] = state
        assert state is not None  # the last stage is always wanted
        workdir = state.relative(state.cwd) or ""
        return Image(workdir, dict(state.env), self._command(state), state.has_venv, state.ran)

    def _log(self, text: str) -> None:
        self.steps.log.line(f"[greenroom] {text}")

    def _start(self, stage: Stage) -> _State:
        state = self._base(stage)
        runs = (" ".join(i.value) for i in stage.instructions if i.cmd == "RUN")
        state.pip_module = any("-m pip" in run or "ensurepip" in run for run in runs)
        return state

    def _base(self, stage: Stage) -> _State:
        image = expand(stage.image, self._global_args)
        self._log(f"{self.dockerfile.path}: stage {stage.index}: FROM {image}")
        directory = stage_directory(self.root, self.dockerfile, stage)
        last = stage is self.dockerfile.stages[-1]
        venv = self.root / "venv" if last else self.root / "stages" / f"{stage.index}.venv"
        earlier = self.dockerfile.stage(image)
        if earlier is not None and earlier.index in self._done:
            parent = self._done[earlier.index]
            self._copy(f"FROM {image}", parent.directory, ["."], directory, into=True, ignore=())
            if parent.has_venv:
                self._log(f"The virtualenv of stage {earlier.index} is not carried over: a new one is made.")
            return replace(
                parent,
                directory=directory,
                venv=venv,
                env=dict(parent.env),
                args={},
                has_venv=False,
                touched=True,
                cmd_inherited=True,
            )
        base = base_image(image)
        for note in base.notes:
            self.steps.log.line(note)
        return _State(
            directory, venv, base.kind, base.workdir, base.workdir, dict(base.env), cmd=base.command
        )

    def _apply(self, instruction: Instruction, state: _State) -> None:
        cmd, where = instruction.cmd, f"{self.dockerfile.path}:{instruction.line} {instruction.cmd}"
        if instruction.heredoc:
            raise BuildFailed(f"{where}: heredocs are not supported by builds without Docker.")
        if not instruction.value and cmd not in ("CMD", "ENTRYPOINT"):
            raise BuildFailed(f"{where} needs arguments.")
        if cmd == "RUN":
            self._run(instruction, state, where)
        elif cmd in ("COPY", "ADD"):
            self._copy_instruction(instruction, state, where)
        elif cmd == "ENV":
            values = instruction.value
            for name, value in zip(values[::2], values[1::2], strict=True):
                state.env[name] = expand(value, state.variables())
        elif cmd == "ARG":
            self._arg(instruction, state.args, state.env)
        elif cmd == "WORKDIR":
            self._workdir(expand(instruction.value[0], state.variables()), state, where)
        elif cmd in ("CMD", "ENTRYPOINT"):
            argv = tuple(instruction.value)
            if not instruction.json and argv:
                argv = (*state.shell, " ".join(argv))
            if cmd == "CMD":
                state.cmd, state.cmd_inherited = argv, False
            else:
                state.entrypoint, state.entrypoint_shell = argv, not instruction.json
                if state.cmd_inherited:
                    state.cmd = None
        elif cmd == "SHELL":
            state.shell = tuple(instruction.value)
        elif cmd == "USER":
            self._log(f"USER {instruction.value[0]} is ignored: steps and runs are the sandbox's uid.")
        elif cmd in _IGNORED:
            self._log(f"{cmd} is ignored by builds without Docker.")
        else:
            raise BuildFailed(f"{where}: {cmd} is not supported by builds without Docker.")

    def _arg(self, instruction: Instruction, into: dict[str, str], env: dict[str, str]) -> None:
        for item in instruction.value:
            name, has_default, default = item.partition("=")
            if name in self.build_args:
                into[name] = self.build_args[name]
            elif has_default:
                into[name] = expand(default, into | env)
            elif name in self._global_args:
                into[name] = self._global_args[name]

    def _workdir(self, path: str, state: _State, where: str) -> None:
        absolute = posixpath.normpath(posixpath.join(state.cwd, path))
        if state.relative(absolute) is None:
            if state.touched:
                raise BuildFailed(
                    f"{where}: {absolute} is outside {state.root}, where this stage's files already are:"
                    " a build without Docker has one directory per stage."
                )
            state.root = absolute  # nothing is there yet: the stage's directory is this one
        state.cwd = absolute
        if state.relative(absolute):
            self.steps.run(where, ["mkdir", "-p", str(state.host(".", where))], state.directory, shown="")

    def _run(self, instruction: Instruction, state: _State, where: str) -> None:
        state.touched = state.ran = True
        for flag in instruction.flags:
            self._log(f"RUN {flag.split('=')[0]} is ignored by builds without Docker.")
        if state.kind == "python" and not state.has_venv:
            self._make_venv(state)
        cwd = state.host(".", where)
        paths = [str(state.venv / "bin")] if state.has_venv else []
        paths += dict.fromkeys(
            [str(cwd / "node_modules" / ".bin"), str(state.directory / "node_modules" / ".bin")]
        )
        env = self.steps.env | state.args | state.env
        env["PATH"] = ":".join([*paths, env.get("PATH", "/usr/local/bin:/usr/bin:/bin")])
        if state.has_venv:
            env["VIRTUAL_ENV"] = str(state.venv)
        if self.steps.sandbox is None:
            # Unsandboxed, a step's HOME would be the worker's: `rm -r ~/.npm` (Apify's templates)
            # would empty its cache. One of the build's own instead.
            env["HOME"] = str(self.root / "home")
        argv = list(instruction.value) if instruction.json else [*state.shell, instruction.value[0]]
        try:
            self.steps.run(where, argv, cwd, env=env, shown=" ".join(instruction.value))
        except (BuildTimedOut, BuildAborted):
            raise
        except BuildFailed:
            if not _lists_packages(instruction):
                raise
            # Apify's templates start with `RUN npm ls apify ...`: the base image's preinstalled
            # packages, which a stage here does not have. A listing changes nothing: go on.
            self._log("npm ls failed: the base image's preinstalled packages are not here; going on.")

    def _make_venv(self, state: _State) -> None:
        venv = str(state.venv)
        # The worker's pip installs into a venv without one (ensurepip takes seconds); `python -m pip`
        # needs the venv's own.
        if worker_pip_installs_elsewhere() and not state.pip_module:
            self.steps.run("python -m venv", [sys.executable, "-m", "venv", "--without-pip", venv], self.root)
            order = {"op": "pip", "venv": venv, "python": sys.executable}
            self._fileop("pip", order)
        else:
            self.steps.run("python -m venv", [sys.executable, "-m", "venv", venv], self.root)
        state.has_venv = True

    def _copy_instruction(self, instruction: Instruction, state: _State, where: str) -> None:
        state.touched = True
        items = [
            expand(item, state.variables()) if not instruction.json else item for item in instruction.value
        ]
        if len(items) < 2:
            raise BuildFailed(f"{where} needs a source and a destination.")
        sources, dest = items[:-1], items[-1]
        if instruction.cmd == "ADD" and any("://" in s or s.startswith("git@") for s in sources):
            raise BuildFailed(f"{where}: ADD of a URL is not supported; download it in a RUN step.")
        ref = instruction.flag("from")
        if ref:
            ref = expand(ref, state.variables())
            stage = self.dockerfile.stage(ref)
            if stage is None or stage.index not in self._done:
                raise BuildFailed(
                    f"{where} --from={ref}: not an earlier stage of this Dockerfile (copying from an image"
                    " is not supported)."
                )
            source = self._done[stage.index]
            rels = [
                str(source.host(posixpath.join("/", s), where).relative_to(source.directory)) for s in sources
            ]
            base, ignore = source.directory, tuple[str, ...]()
        else:
            rels = [posixpath.normpath("/" + s).lstrip("/") or "." for s in sources]
            base, ignore = self.root / "context" / self.dockerfile.context, self.dockerfile.ignore
        into = dest.endswith("/") or dest in (".", "..")
        target = state.host(dest, where)
        self._copy(where, base, rels, target, into=into, ignore=ignore, extract=instruction.cmd == "ADD")

    def _copy(
        self,
        what: str,
        base: Path,
        sources: list[str],
        dest: Path,
        *,
        into: bool,
        ignore: tuple[str, ...],
        extract: bool = False,
    ) -> None:
        order = {
            "op": "copy",
            "what": what,
            "base": str(base),
            "sources": sources,
            "dest": str(dest),
            "into": into,
            "ignore": list(ignore),
            "extract": extract,
        }
        self._fileop(what, order)

    def _fileop(self, what: str, order: Mapping[str, object]) -> None:
        argv = [sys.executable, "-I", "-c", _FILEOPS, json.dumps(order)]
        self.steps.run(what, argv, self.root, shown="")

    def _command(self, state: _State) -> tuple[str, ...] | None:
        """ENTRYPOINT + CMD as Docker joins them; exec-form arguments that are image paths under the
        stage's directory point into the build."""
        argv = state.cmd
        if state.entrypoint is not None:
            argv = state.entrypoint if state.entrypoint_shell else state.entrypoint + (state.cmd or ())
        if not argv:  # none, or `CMD []`
            return None
        mapped = []
        for arg in argv:
            relative = state.relative(arg) if arg.startswith("/") and state.root != "/" else None
            mapped.append(str(state.directory / relative) if relative is not None else arg)
        return tuple(mapped)
