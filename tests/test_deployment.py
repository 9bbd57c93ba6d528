"""The production deployment files: Dockerfile, .dockerignore and docker-compose.yml.

There is no Docker engine to try them on, so docker-compose.yml is validated against the Compose
Specification's JSON schema (vendored in tests/data, see its README) and everything a schema cannot
see is checked against Greenroom's own code: the GREENROOM_* variables against what
Settings.from_env reads, every command against the `greenroom` command's real argument parser, the
URLs against the services that serve them, and the Dockerfile against where the code expects its files.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import importlib
import json
import posixpath
import re
import shlex
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dockerfile
import jsonschema
import pytest
import yaml
from packaging.specifiers import SpecifierSet

from server.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PYPROJECT = ROOT / "pyproject.toml"
SCHEMA = Path(__file__).resolve().parent / "data" / "compose-spec.json"
SCHEMA_SHA256 = "d549057ebc2925f39f62799eab0db7b9e2c18b35b6c00595199116da3ed10e64"

# What the image must hold for every subcommand to work, as repository path: is a directory.
IMAGE_CONTENTS = {"pyproject.toml": False, "alembic.ini": False}
IMAGE_CONTENTS |= {"server": True, "worker": True, "migrations": True}
# What must stay out of the build context: local state and caches.
LOCAL_STATE = (".venv", ".git", "data", "server/__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache")
DOCKERFILE_INSTRUCTIONS = {
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Loading and interpreting the files


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())  # the safe loader resolves `<<` merge keys, as Compose does
    assert isinstance(data, dict), "docker-compose.yml is not a mapping"
    return data


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def greenroom_services() -> dict[str, dict[str, Any]]:
    """The services that run the image built from this repository's Dockerfile."""
    built = {svc["image"] for svc in services().values() if "build" in svc and "image" in svc}
    return {name: svc for name, svc in services().items() if "build" in svc or svc.get("image") in built}


_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<default>[^}]*))?\}")
# What the compose file's comment tells an operator to put in .env (the secrets it requires).
OPERATOR_ENV = {
    "POSTGRES_PASSWORD": "pg-password",
    "REDIS_PASSWORD": "redis-password",
    "GREENROOM_SECRETS_KEY": "Z3JlZW5yb29tIGRlcGxveW1lbnQgdGVzdCBrZXksIDMyKyBieXRlcw==",
}


class MissingVariable(Exception):
    """Compose's ${VAR:?message}: `docker compose` refuses to start without VAR."""


def interpolate(value: str, host_env: Mapping[str, str]) -> str:
    """Compose's ${VAR}, ${VAR-default}, ${VAR:-default} and ${VAR:?error}, with the host
    environment given."""

    def replace(m: re.Match[str]) -> str:
        name, op, default = m["name"], m["op"], m["default"] or ""
        if op == ":-":
            return host_env.get(name) or default
        if op == "-":
            return host_env.get(name, default)
        if op in (":?", "?"):
            if not host_env.get(name) if op == ":?" else name not in host_env:
                raise MissingVariable(f"{name}: {default}")
            return host_env[name]
        return host_env.get(name, "")

    rest = _INTERPOLATION.sub(replace, value.replace("$$", "\0"))
    assert "$" not in rest, f"interpolation this test does not understand: {value!r}"
    return rest.replace("\0", "$")


def environment(service: dict[str, Any], host_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """A service's environment (mapping or list form), interpolated against host_env (default: the
    operator's .env, OPERATOR_ENV)."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, None) for item in raw)
    env = OPERATOR_ENV if host_env is None else host_env
    return {k: interpolate(str(v), env) for k, v in raw.items() if v is not None}


def variable_names_used() -> set[str]:
    """Every GREENROOM_* name in docker-compose.yml: environment keys and ${...} references."""
    names = {name for svc in services().values() for name in environment(svc)}
    names |= {m["name"] for m in _INTERPOLATION.finditer(COMPOSE.read_text())}
    return {name for name in names if name.startswith("GREENROOM_")}


def settings_of(service: dict[str, Any]) -> Settings:
    env = {k: v for k, v in environment(service).items() if k.startswith("GREENROOM_")}
    return Settings.from_env(env)


class _Recorder(Mapping[str, str]):
    """An empty environment that remembers every name looked up in it."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def variables_settings_reads() -> set[str]:
    recorder = _Recorder()
    Settings.from_env(recorder)
    return recorder.asked


def script() -> tuple[str, Callable[..., None]]:
    """The console script pyproject.toml installs, and the function behind it."""
    scripts = tomllib.loads(PYPROJECT.read_text())["project"]["scripts"]
    assert list(scripts) == ["greenroom"], scripts
    module, _, function = scripts["greenroom"].partition(":")
    return "greenroom", getattr(importlib.import_module(module), function)


class _Parsed(Exception):
    def __init__(self, namespace: argparse.Namespace):
        super().__init__()
        self.namespace = namespace


def parse_command(argv: list[str]) -> argparse.Namespace:
    """Run the `greenroom` command's own argument parsing on argv and stop right there.

    The top-level parse_args is intercepted after it returned, so nothing is ever executed.
    """
    name, main = script()
    assert argv and argv[0] == name, f"{argv} does not run the {name!r} command"
    original = argparse.ArgumentParser.parse_args

    def parse_then_stop(self: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> argparse.Namespace:
        raise _Parsed(original(self, *args, **kwargs))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
        try:
            main(argv[1:])
        except _Parsed as parsed:
            return parsed.namespace
        except SystemExit as exc:
            raise AssertionError(f"`{shlex.join(argv)}` is not a valid greenroom command") from exc
    raise AssertionError(f"{name} returned without parsing its arguments")


def command_argv(service_name: str, service: dict[str, Any]) -> list[str]:
    command = service.get("command")
    # Exec form: Compose would otherwise split a string itself, with no shell, a source of surprises.
    assert isinstance(command, list), f"{service_name}: command must be a list, got {command!r}"
    return [str(part) for part in command]


def instructions() -> list[dockerfile.Command]:
    """The Dockerfile as Docker's own parser (moby/buildkit, via the `dockerfile` package) reads it."""
    return list(dockerfile.parse_file(str(DOCKERFILE)))


def dockerfile_env(commands: list[dockerfile.Command]) -> dict[str, str]:
    env: dict[str, str] = {}
    for c in commands:
        if c.cmd.upper() == "ENV":
            env.update(zip(c.value[::2], c.value[1::2], strict=True))
    return env


def copied_paths(commands: list[dockerfile.Command]) -> dict[str, tuple[int, str]]:
    """Repository path -> (index of its COPY, where it lands in the image)."""
    workdir = "/"
    placed: dict[str, tuple[int, str]] = {}
    for i, c in enumerate(commands):
        cmd = c.cmd.upper()
        if cmd == "WORKDIR":
            workdir = posixpath.join(workdir, c.value[0])
        elif cmd in ("COPY", "ADD"):
            assert not any(flag.startswith("--from") for flag in c.flags), "a build stage this test ignores"
            *sources, dest = c.value
            dest_dir = posixpath.normpath(posixpath.join(workdir, dest))
            for source in sources:
                name = posixpath.normpath(source)
                if (ROOT / name).is_dir():  # a directory's contents go into dest
                    placed[name] = (i, dest_dir)
                elif dest.endswith("/") or len(sources) > 1:
                    placed[name] = (i, posixpath.join(dest_dir, posixpath.basename(name)))
                else:
                    placed[name] = (i, dest_dir)
    return placed


def dockerignore_patterns() -> list[str]:
    lines = (line.strip() for line in DOCKERIGNORE.read_text().splitlines())
    return [posixpath.normpath(line.lstrip("/")) for line in lines if line and not line.startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps path out of the build context (no `!` exceptions here)."""
    assert not any(p.startswith("!") for p in patterns), "`!` exceptions are not handled by this test"
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    for pattern in patterns:
        alternatives = {pattern, pattern.removeprefix("**/")}
        if any(fnmatch.fnmatchcase(prefix, alt) for prefix in prefixes for alt in alternatives):
            return True
        if pattern.startswith("**/") and any(fnmatch.fnmatchcase(part, pattern[3:]) for part in parts):
            return True
    return False


# ---------------------------------------------------------------------------------------------
# docker-compose.yml


def test_the_vendored_schema_is_the_recorded_one() -> None:
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256, (
        "tests/data/compose-spec.json changed: update it only as tests/data/README.md says"
    )


def test_compose_file_matches_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    errors = sorted(validator_class(schema).iter_errors(compose()), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(
        f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in errors
    )


def test_services_and_their_start_order() -> None:
    svcs = services()
    assert set(svcs) >= {"postgres", "redis", "migrate", "api", "worker"}
    assert set(greenroom_services()) == {"migrate", "api", "worker"}
    expected = {
        "migrate": {"postgres": "service_healthy"},
        "api": {"migrate": "service_completed_successfully", "redis": "service_healthy"},
        "worker": {"migrate": "service_completed_successfully", "redis": "service_healthy"},
    }
    for name, deps in expected.items():
        depends_on = svcs[name].get("depends_on")
        assert isinstance(depends_on, dict), f"{name}: depends_on must give conditions"
        conditions = {dep: spec.get("condition") for dep, spec in depends_on.items()}
        assert conditions == deps, f"{name} depends on {conditions}, expected {deps}"


def test_dependency_conditions_can_be_met() -> None:
    """service_healthy needs a healthcheck; service_completed_successfully needs a one-shot service."""
    svcs = services()
    for name, svc in svcs.items():
        depends_on = svc.get("depends_on") or {}
        for dep in depends_on:
            assert dep in svcs, f"{name} depends on {dep!r}, which is not a service"
        if not isinstance(depends_on, dict):
            continue
        for dep, spec in depends_on.items():
            condition = spec.get("condition", "service_started")
            if condition == "service_healthy":
                test = (svcs[dep].get("healthcheck") or {}).get("test")
                assert test and not svcs[dep]["healthcheck"].get("disable"), (
                    f"{name} waits for {dep} to be healthy, and {dep} has no healthcheck"
                )
            if condition == "service_completed_successfully":
                assert svcs[dep].get("restart", "no") == "no", (
                    f"{name} waits for {dep} to complete, and {dep} is restarted when it does"
                )


def test_healthchecks_use_the_images_own_tools() -> None:
    svcs = services()
    assert svcs["postgres"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert svcs["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    # redis-cli authenticates from REDISCLI_AUTH, or the ping would be refused.
    assert environment(svcs["redis"])["REDISCLI_AUTH"] == OPERATOR_ENV["REDIS_PASSWORD"]


def test_the_api_is_healthy_when_its_ready_route_says_so() -> None:
    """The API's healthcheck asks GET /ready (server/observability/health.py) on its own port."""
    api = services()["api"]
    test = api["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"], "the image has Python, not curl"
    port = parse_command(command_argv("api", api)).port or settings_of(api).port
    assert f"http://127.0.0.1:{port}/ready" in " ".join(test)


def test_redis_and_postgres_refuse_anyone_without_their_passwords() -> None:
    """Actors share the network with them: what they cannot get past is the password, which no
    actor sees (it reaches Greenroom's processes only, as GREENROOM_* variables)."""
    svcs = services()
    redis_command = [interpolate(str(part), OPERATOR_ENV) for part in svcs["redis"]["command"]]
    assert redis_command[redis_command.index("--requirepass") + 1] == OPERATOR_ENV["REDIS_PASSWORD"]
    postgres_env = environment(svcs["postgres"])
    assert postgres_env["POSTGRES_HOST_AUTH_METHOD"] not in ("trust", "")
    for name, svc in greenroom_services().items():
        settings = settings_of(svc)
        assert urlsplit(settings.redis_url).password == OPERATOR_ENV["REDIS_PASSWORD"], name
        assert urlsplit(settings.sql_url).password == OPERATOR_ENV["POSTGRES_PASSWORD"], name
        assert settings.secrets_key == OPERATOR_ENV["GREENROOM_SECRETS_KEY"], name
    # No defaults: without the .env, compose refuses to start rather than run on known passwords.
    for variable in OPERATOR_ENV:
        without = {k: v for k, v in OPERATOR_ENV.items() if k != variable}
        with pytest.raises(MissingVariable, match=variable):
            for svc in services().values():
                environment(svc, without)
                [interpolate(str(part), without) for part in svc.get("command") or []]


def test_the_workers_can_sandbox_their_actors() -> None:
    """bwrap, cgroups and switching to the sandbox uids need root with its capabilities in the
    worker container (the actors get none); the sandbox is on; the image has what it runs."""
    worker = services()["worker"]
    assert str(worker.get("user")).split(":")[0] in ("0", "root") and worker.get("privileged") is True
    assert settings_of(worker).sandbox == "on"
    for name in ("api", "migrate"):
        svc = services()[name]
        assert not svc.get("privileged") and "user" not in svc, f"{name} needs no privileges"
    runs = " ".join(c.value[0] for c in instructions() if c.cmd.upper() == "RUN")
    assert re.search(r"apt-get install [^&]*\bbubblewrap\b", runs), "the image has no bubblewrap"
    assert re.search(r"apt-get install [^&]*\bnftables\b", runs), "the image has no nftables"


def test_every_greenroom_variable_is_read_by_settings() -> None:
    read = variables_settings_reads()
    assert read, "Settings.from_env looked up nothing: the recorder no longer sees its reads"
    unknown = variable_names_used() - read
    assert not unknown, f"docker-compose.yml sets {sorted(unknown)}, which Settings.from_env never reads"


def test_greenroom_services_share_one_complete_configuration() -> None:
    """Left unset, the database falls back to a SQLite file inside the container: never in production."""
    required = {
        "GREENROOM_DATABASE_URL",
        "GREENROOM_REDIS_URL",
        "GREENROOM_PUBLIC_BASE_URL",
        "GREENROOM_DATA_DIR",
    }
    configs = {}
    for name, svc in greenroom_services().items():
        env = {k: v for k, v in environment(svc).items() if k.startswith("GREENROOM_")}
        missing = required - {k for k, v in env.items() if v}
        assert not missing, f"{name} does not set {sorted(missing)}"
        settings_of(svc)  # every value parses (numbers are numbers)
        configs[name] = env
    first = next(iter(configs.values()))
    assert all(env == first for env in configs.values()), f"configurations differ: {configs}"


def test_urls_point_at_the_services_that_serve_them() -> None:
    svcs = services()
    postgres_env = environment(svcs["postgres"])
    for name, svc in greenroom_services().items():
        settings = settings_of(svc)
        db = urlsplit(settings.sql_url)
        assert db.scheme == "postgresql", f"{name}: {settings.sql_url} is not PostgreSQL"
        assert db.hostname in svcs and svcs[db.hostname].get("image", "").startswith("postgres"), db
        assert (db.username, db.password, db.path.lstrip("/")) == (
            postgres_env["POSTGRES_USER"],
            postgres_env["POSTGRES_PASSWORD"],
            postgres_env["POSTGRES_DB"],
        ), f"{name}: the database URL's credentials are not the postgres service's"
        assert db.port in (None, 5432)

        redis = urlsplit(settings.redis_url)
        assert redis.scheme == "redis" and redis.port in (None, 6379), settings.redis_url
        assert redis.hostname in svcs and svcs[redis.hostname].get("image", "").startswith("redis"), redis

        # Actors run in the worker containers and reach the API by its service name and port.
        api = urlsplit(settings.actor_api_base_url)
        serve = parse_command(command_argv("api", svcs["api"]))
        assert api.hostname == "api", f"{name}: actors would call {settings.actor_api_base_url}"
        assert api.port == (serve.port or settings.port), (
            "the actors' API URL's port is not the one it serves"
        )
        assert api.path in ("", "/"), "GREENROOM_INTERNAL_BASE_URL is the root, without /v2"
        # Clients outside the compose network get URLs on the published port.
        public = urlsplit(settings.api_base_url)
        assert public.hostname != "api" and public.path in ("", "/"), settings.api_base_url
        published = {str(p).split(":")[0] for p in svcs["api"].get("ports", [])}
        assert str(public.port) in published, "the public URL's port is not published"


def test_the_data_dir_is_on_the_workers_volume() -> None:
    worker = services()["worker"]
    data_dir = settings_of(worker).data_dir
    assert data_dir.is_absolute(), f"GREENROOM_DATA_DIR {data_dir} depends on the working directory"
    targets = set()
    for volume in worker.get("volumes") or []:
        target = volume["target"] if isinstance(volume, dict) else volume.split(":")[1]
        targets.add(target)
        if isinstance(volume, str) and not volume.startswith((".", "/")):
            assert volume.split(":")[0] in (compose().get("volumes") or {}), f"undeclared volume {volume}"
    assert str(data_dir) in targets, f"the worker's builds under {data_dir} would be lost on every restart"


@pytest.mark.parametrize("service_name", ["migrate", "api", "worker"])
def test_service_command_is_a_greenroom_subcommand(service_name: str) -> None:
    svc = greenroom_services()[service_name]
    args = parse_command(command_argv(service_name, svc))
    expected = {"migrate": ("db", "upgrade"), "api": ("serve", None), "worker": ("worker", None)}
    command, action = expected[service_name]
    assert args.command == command, f"{service_name} runs `greenroom {args.command}`"
    assert getattr(args, "action", None) == action


def test_api_listens_on_all_interfaces_on_the_published_port() -> None:
    api = services()["api"]
    args = parse_command(command_argv("api", api))
    settings = settings_of(api)
    assert (args.host or settings.host) == "0.0.0.0", "the API would listen on the container's loopback only"
    port = args.port or settings.port
    published = set()
    for mapping in api.get("ports") or []:
        target = mapping["target"] if isinstance(mapping, dict) else str(mapping).rsplit(":", 1)[-1]
        published.add(int(str(target).split("/")[0]))
    assert port in published, f"the API serves port {port}, published are {sorted(published)}"


def test_commands_in_comments_are_valid() -> None:
    """The compose file's own instructions (e.g. how to create the first user) must work."""
    svcs = greenroom_services()
    found = re.findall(r"^#.*?docker compose run --rm (\S+) (greenroom[^#\n]*)", COMPOSE.read_text(), re.M)
    assert any("user create" in line for _, line in found), "no comment says how to create the first user"
    for service_name, line in found:
        assert service_name in svcs, f"`docker compose run {service_name}`: not a Greenroom service"
        parse_command(shlex.split(line))


# ---------------------------------------------------------------------------------------------
# Dockerfile and .dockerignore


def test_dockerfile_uses_only_known_instructions() -> None:
    unknown = [c.original for c in instructions() if c.cmd.upper() not in DOCKERFILE_INSTRUCTIONS]
    assert not unknown, f"not Dockerfile instructions: {unknown}"


def test_base_image_is_a_python_greenroom_supports() -> None:
    froms = [c for c in instructions() if c.cmd.upper() == "FROM"]
    assert len(froms) == 1, "one build stage expected"
    image = froms[0].value[0]
    m = re.fullmatch(r"python:(\d+\.\d+)(?:\.\d+)?-slim(?:-\w+)?", image)
    assert m, f"{image} is not a Python slim image"
    requires = tomllib.loads(PYPROJECT.read_text())["project"]["requires-python"]
    assert SpecifierSet(requires).contains(f"{m[1]}.0"), f"{image} is outside requires-python {requires}"


def test_image_holds_what_the_commands_need() -> None:
    commands = instructions()
    placed = copied_paths(commands)
    for path, is_dir in IMAGE_CONTENTS.items():
        assert (ROOT / path).is_dir() == is_dir and (ROOT / path).exists(), f"{path} is not in the repository"
        assert path in placed, f"the Dockerfile does not copy {path}"

    # `pip install .` needs the project and its packages in place first.
    runs = [(i, c.value[0]) for i, c in enumerate(commands) if c.cmd.upper() == "RUN"]
    installs = [i for i, line in runs if re.search(r"\bpip install \.(\s|$)", line)]
    assert installs, "the Dockerfile never runs `pip install .`: there would be no greenroom command"
    # migrations/ is part of the package (server.migrations): it must be there for `pip install .`.
    for path in ("pyproject.toml", "server", "worker", "migrations"):
        assert placed[path][0] < installs[0], f"{path} is copied after `pip install .`"


def test_the_installed_package_carries_the_migrations() -> None:
    """What `pip install .` puts in the image must hold the Alembic scripts `greenroom db upgrade` runs."""
    setuptools_cfg = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]
    assert "server.migrations" in setuptools_cfg["packages"]
    assert setuptools_cfg["package-dir"]["server.migrations"] == "migrations"
    from server.migrate import MIGRATIONS

    assert (MIGRATIONS / "env.py").is_file() and (MIGRATIONS / "versions").is_dir()


def test_image_runs_as_a_non_root_user() -> None:
    users = [c.value[0] for c in instructions() if c.cmd.upper() == "USER"]
    assert users, "no USER: the container runs as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"USER {users[-1]} is root"


def test_default_command_is_the_api_server() -> None:
    cmds = [c for c in instructions() if c.cmd.upper() == "CMD"]
    assert cmds, "no CMD"
    cmd = cmds[-1]
    assert cmd.json, f"`{cmd.original}`: shell form puts /bin/sh in front and it never forwards SIGTERM"
    assert not [c for c in instructions() if c.cmd.upper() == "ENTRYPOINT"], "an ENTRYPOINT changes CMD"
    args = parse_command(list(cmd.value))
    assert args.command == "serve", f"the default command is `greenroom {args.command}`"
    assert args.host == "0.0.0.0", "the API would listen on the container's loopback only"


def test_dockerignore_keeps_local_state_out_and_sources_in() -> None:
    patterns = dockerignore_patterns()
    for path in LOCAL_STATE:
        assert ignored(path, patterns), f".dockerignore lets {path} into the build context"
    for path in copied_paths(instructions()):
        assert not ignored(path, patterns), f".dockerignore removes {path}, which the Dockerfile copies"


def test_every_package_is_installed() -> None:
    """pyproject.toml lists its packages by hand: a folder left out (worker.sandbox was) is missing
    from an installed Greenroom (the image, `pip install .`), which then fails at its first import."""
    listed = set(tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("server", "worker")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert found <= listed, sorted(found - listed)
