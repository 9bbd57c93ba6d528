"""Dockerfile builds without Docker (worker/builds/stages.py): tiny Dockerfiles, no network.

Most tests make a build directory with the builder alone (no services, no sandbox); the last ones go
through a real Greenroom, in the sandbox, from the API's build to a run that sees the Dockerfile's
ENV and what its RUN steps made.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.packages import WHEEL_NAME, binary, text, tiny_wheel, version
from worker.builds.directory import BuildDir, prepare
from worker.builds.dockerfile import expand
from worker.builds.images import base_image
from worker.builds.steps import BuildFailed, Steps, step_env


class _Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def line(self, text: str) -> None:
        self.lines.append(text)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _build(tmp_path: Path, files: dict[str, str], **source: object) -> tuple[BuildDir, str]:
    log = _Lines()
    steps = Steps(log, step_env({}), time.monotonic() + 120, None)
    sources = [text(name, content) for name, content in files.items()]
    made, cached = prepare({"sourceFiles": sources, **source}, "key", tmp_path / "builds", steps)
    assert not cached
    return made, log.text


def _fails(tmp_path: Path, files: dict[str, str]) -> tuple[str, str]:
    """(the failure's message, the log) of a build that must fail; nothing of it is left behind."""
    log = _Lines()
    steps = Steps(log, step_env({}), time.monotonic() + 120, None)
    sources = [text(name, content) for name, content in files.items()]
    with pytest.raises(BuildFailed) as failed:
        prepare({"sourceFiles": sources}, "key", tmp_path / "builds", steps)
    assert not (tmp_path / "builds" / "key").exists()
    return str(failed.value), log.text


def test_run_env_arg_workdir_and_user(tmp_path: Path) -> None:
    dockerfile = """\
ARG BASE=apify/actor-node:20
FROM ${BASE}
ARG WHO="the builder"
ENV GREETING="hello from $WHO" PLAIN=yes
USER myuser
COPY . ./
WORKDIR data
RUN echo "$GREETING, $PLAIN, $WHO" > greeting.txt && pwd > where.txt
ENV LATER=${GREETING:-unset}-${MISSING:-fallback}
CMD ["node", "../main.js"]
"""
    made, log = _build(tmp_path, {"Dockerfile": dockerfile, "main.js": "console.log(1)\n"})
    assert made.cwd == made.app / "data" and made.workdir == "data"
    assert (made.cwd / "greeting.txt").read_text() == "hello from the builder, yes, the builder\n"
    assert (made.cwd / "where.txt").read_text().strip() == str(made.cwd)
    assert made.env == {
        "NODE_ENV": "production",  # Apify's node image
        "GREETING": "hello from the builder",
        "PLAIN": "yes",
        "LATER": "hello from the builder-fallback",
    }
    assert made.command == ("node", "../main.js")
    assert "USER myuser is ignored" in log
    assert "[greenroom] Dockerfile:8 RUN echo" in log
    # What runs get: the Dockerfile's ENV beneath their own.
    assert made.process_env({"PLAIN": "run's", "PATH": "/bin"})["PLAIN"] == "run's"
    # The directory is reused as it was made: the marker keeps what runs need.
    again = prepare({"sourceFiles": []}, "key", tmp_path / "builds", Steps(_Lines(), {}, None, None))
    assert again == (made, True)


def test_multi_stage_copy_from_and_dockerignore(tmp_path: Path) -> None:
    dockerfile = """\
FROM python:3.11 AS builder
WORKDIR /build
COPY src/ ./src/
RUN mkdir -p out && cat src/a.txt src/b.txt > out/joined.txt

FROM node:20 AS unused
RUN exit 1

FROM apify/actor-python:3.11
COPY --from=builder /build/out/joined.txt ./result.txt
COPY --from=0 /build/src ./copied/
COPY . ./
CMD python3 -c "print(1)"
"""
    files = {
        ".actor/Dockerfile": dockerfile,
        "src/a.txt": "a\n",
        "src/b.txt": "b\n",
        "secret.env": "never copied",
        "logs/x.log": "never copied",
        "logs/keep.log": "kept",
        ".dockerignore": "*.env\nlogs\n!logs/keep.log\n",
    }
    made, log = _build(tmp_path, files)
    assert (made.app / "result.txt").read_text() == "a\nb\n"
    assert sorted(p.name for p in (made.app / "copied").iterdir()) == ["a.txt", "b.txt"]
    assert (made.app / "src" / "a.txt").is_file() and (made.app / "logs" / "keep.log").is_file()
    assert not (made.app / "secret.env").exists() and not (made.app / "logs" / "x.log").exists()
    assert "Stage 1 (unused) is not needed: skipped." in log
    assert "The image has Python 3.11 too." in log
    assert made.command == ("/bin/sh", "-c", 'python3 -c "print(1)"')
    assert not (made.root / "stages").exists() and not (made.root / "context").exists()


def test_a_python_stage_installs_with_pip_into_its_virtualenv(tmp_path: Path) -> None:
    dockerfile = """\
FROM apify/actor-python:3.12
COPY requirements.txt vendor/ ./
RUN pip install --no-input -r requirements.txt && python -c "import tinypkg; print('VALUE', tinypkg.VALUE)"
COPY . ./
CMD ["python3", "-m", "src"]
"""
    log = _Lines()
    steps = Steps(log, step_env({}), time.monotonic() + 120, None)
    sources = [
        text("Dockerfile", dockerfile),
        text("requirements.txt", f"./{WHEEL_NAME}\n"),
        binary(f"vendor/{WHEEL_NAME}", tiny_wheel(11)),
        text("src/__main__.py", "import tinypkg\n"),
    ]
    made, _ = prepare({"sourceFiles": sources}, "key", tmp_path / "builds", steps)
    assert made.venv == made.root / "venv" and "VALUE 11" in log.text
    assert "--without-pip" in log.text  # the worker's pip installs into it
    assert made.python == str(made.root / "venv" / "bin" / "python")
    differs = "The image has Python 3.12: the versions differ." if sys.version_info[:2] != (3, 12) else ""
    assert differs in log.text


def test_python_m_pip_gets_a_virtualenv_with_its_own_pip(tmp_path: Path) -> None:
    dockerfile = 'FROM python:3.11\nRUN python -m pip --version > pip.txt\nCMD ["python3", "-c", "1"]\n'
    made, log = _build(tmp_path, {"Dockerfile": dockerfile})
    assert "--without-pip" not in log and str(made.root / "venv") in (made.app / "pip.txt").read_text()


def test_without_run_steps_the_automatic_install_stays(tmp_path: Path) -> None:
    made, log = _build(
        tmp_path,
        {"Dockerfile": "FROM python:3.11\nCOPY . .\n", "requirements.txt": "\n", "main.py": "print(1)\n"},
    )
    assert made.venv is not None and "-r requirements.txt" in log
    assert "Runs start with" in log and "main.py" in log


@pytest.mark.parametrize(
    ("image", "said"),
    [
        ("ubuntu:22.04", "FROM ubuntu:22.04: Greenroom builds without Docker"),
        ("alpine", "FROM alpine: Greenroom builds without Docker"),
        ("registry.example.com/apify/actor-node:20", "FROM registry.example.com/apify/actor-node:20:"),
        ("scratch", "FROM scratch:"),
    ],
)
def test_an_image_greenroom_cannot_provide_fails_the_build(tmp_path: Path, image: str, said: str) -> None:
    message, _ = _fails(tmp_path, {"Dockerfile": f'FROM {image}\nCMD ["true"]\n'})
    assert message.startswith(said) and "apify/actor-node" in message


def test_a_start_command_that_cannot_start_fails_the_build(tmp_path: Path) -> None:
    package = {"name": "x", "version": "1.0.0", "scripts": {"start": "node dist/main.js"}}
    cases = {
        'CMD ["node", "dist/main.js"]': "dist/main.js does not exist in the build",
        "CMD npm start --silent": "dist/main.js does not exist in the build",
        'CMD ["npm", "run", "start:prod"]': "package.json has no 'start:prod' script",
        "CMD no-such-program --flag": "no-such-program is not on the runs' PATH",
        'CMD ["./start.sh"]': "./start.sh is not an executable file in the build",
    }
    message, _ = _fails(tmp_path, {"Dockerfile": "FROM node:20\nCOPY . .\n", "README.md": "no program"})
    assert message.startswith("No start command: set startCommand, a Dockerfile CMD")
    for cmd, problem in cases.items():
        files = {
            "Dockerfile": f"FROM apify/actor-node:20\nCOPY . ./\n{cmd}\n",
            "package.json": json.dumps(package),
        }
        message, _ = _fails(tmp_path, files)
        assert message.startswith("The start command") and problem in message, (cmd, message)


def test_a_failing_run_fails_the_build_with_its_output(tmp_path: Path) -> None:
    dockerfile = "FROM node:20\nRUN echo 'about to break' && echo 'it broke' >&2 && exit 3\nCMD [\"node\"]\n"
    message, log = _fails(tmp_path, {"Dockerfile": dockerfile})
    assert message == "Dockerfile:2 RUN failed with exit code 3; its output is in the log above."
    assert "about to break" in log and "it broke" in log


@pytest.mark.parametrize(
    ("lines", "said"),
    [
        ("COPY . /etc/app/", "/etc/app is outside /usr/src/app"),
        ("COPY . ./\nWORKDIR /opt/other", "/opt/other is outside /usr/src/app"),
        ("COPY --from=node:20 /usr/local/bin/node ./", "--from=node:20: not an earlier stage"),
        ("ADD https://example.com/x.tgz ./", "ADD of a URL is not supported"),
        ("COPY missing.txt ./", "missing.txt: no such file"),
    ],
)
def test_what_a_build_without_docker_cannot_do_fails_clearly(tmp_path: Path, lines: str, said: str) -> None:
    message, log = _fails(tmp_path, {"Dockerfile": f"FROM apify/actor-node:20\n{lines}\n"})
    assert said in message + log


def test_actor_json_names_the_dockerfile_relative_to_its_folder(tmp_path: Path) -> None:
    files = {
        ".actor/actor.json": json.dumps(
            {"actorSpecification": 1, "name": "x", "dockerfile": "../docker/Dockerfile"}
        ),
        ".actor/Dockerfile": "FROM ubuntu\n",  # not the one named
        "docker/Dockerfile": 'FROM node:20\nCOPY main.js ./\nCMD ["node", "main.js"]\n',
        "main.js": "1\n",
    }
    made, _ = _build(tmp_path, files)
    assert made.command == ("node", "main.js") and [p.name for p in made.app.iterdir()] == ["main.js"]
    files[".actor/actor.json"] = json.dumps({"dockerfile": "./Nope"})
    message, _ = _fails(tmp_path / "second", files)
    assert "actor.json names the Dockerfile './Nope'" in message


# --- through a real Greenroom, in the sandbox ----------------------------------------------------------

PROBE = """\
import json, os, urllib.request
base, store = os.environ["APIFY_API_BASE_URL"], os.environ["ACTOR_DEFAULT_KEY_VALUE_STORE_ID"]
out = {"greeting": os.environ.get("GREETING"), "made": open("made.txt").read(), "cwd": os.getcwd()}
request = urllib.request.Request(
    f"{base}/v2/key-value-stores/{store}/records/OUTPUT", data=json.dumps(out).encode(), method="PUT",
    headers={"Authorization": "Bearer " + os.environ["APIFY_TOKEN"], "Content-Type": "application/json"},
)
urllib.request.urlopen(request).close()
"""


def _finished_build(api: httpx.Client, actor_id: str) -> tuple[dict, str]:
    """The actor's first build once finished, and its log. Found in the actor's build list: a build
    that failed before this asks is no one's `builds/default` (a failed build takes no tag), and that
    asked 404 (make test, once: a base image refused at once, on a busy machine)."""
    (first,) = api.get(f"/acts/{actor_id}/builds").json()["data"]["items"]
    build = api.get(f"/actor-builds/{first['id']}", params={"waitForFinish": 60}).json()["data"]
    return build, api.get(f"/actor-builds/{build['id']}/log").text


def test_a_dockerfile_build_through_the_api_runs_its_steps_and_the_run_sees_its_env(
    api: httpx.Client,
) -> None:
    dockerfile = """\
FROM apify/actor-python:3.11
ENV GREETING="from the Dockerfile"
WORKDIR /usr/src/app/probe
COPY probe.py ./
RUN id -u > made.txt && echo "made by RUN" >> made.txt
CMD ["python3", "probe.py"]
"""
    files = [text(".actor/Dockerfile", dockerfile), text("probe.py", PROBE)]
    actor = api.post("/acts", json={"name": "dockery-steps", "versions": [version(files)]}).json()["data"]
    build, log = _finished_build(api, actor["id"])
    assert build["status"] == "SUCCEEDED", log
    assert ".actor/Dockerfile:5 RUN id -u" in log and "Runs start with" in log
    response = api.post(f"/acts/{actor['id']}/run-sync")
    assert response.status_code == 201, response.text
    out = response.json()
    assert out["greeting"] == "from the Dockerfile" and out["made"].endswith("made by RUN\n")
    assert out["cwd"].endswith("/app/probe")


def test_a_failing_dockerfile_build_through_the_api_is_failed_with_its_output(api: httpx.Client) -> None:
    files = [text("Dockerfile", "FROM node:20\nRUN echo 'no luck' && false\nCMD [\"node\"]\n")]
    actor = api.post("/acts", json={"name": "dockery-fails", "versions": [version(files)]}).json()["data"]
    build, log = _finished_build(api, actor["id"])
    assert build["status"] == "FAILED"
    assert "no luck" in log and "Build failed: Dockerfile:2 RUN failed with exit code 1" in log
    other = [text("Dockerfile", 'FROM debian:12\nCMD ["true"]\n')]
    actor = api.post("/acts", json={"name": "dockery-debian", "versions": [version(other)]}).json()["data"]
    build, log = _finished_build(api, actor["id"])
    assert (
        build["status"] == "FAILED" and "Build failed: FROM debian:12: Greenroom builds without Docker" in log
    )


# --- the pure parts ------------------------------------------------------------------------------------


def test_docker_substitution_quotes_and_escapes() -> None:
    variables = {"A": "x", "EMPTY": ""}
    cases = {
        "$A/${A}": "x/x",
        '"a b $A"': "a b x",
        "'$A'": "$A",
        r"\$A": "$A",
        "${MISSING:-dflt} ${A:-dflt} ${EMPTY:-dflt}": "dflt x dflt",
        "${A:+set}${MISSING:+set}": "set",
        "cost: $": "cost: $",
    }
    for text_in, out in cases.items():
        assert expand(text_in, variables) == out, text_in


@pytest.mark.parametrize(
    ("image", "kind", "workdir"),
    [
        ("apify/actor-node:20", "node", "/usr/src/app"),
        ("docker.io/apify/actor-node-playwright-chrome:22-1.50.0", "node", "/home/myuser"),
        ("apify/actor-python:3.13", "python", "/usr/src/app"),
        ("apify/actor-python-selenium", "python", "/usr/src/app"),
        ("node:22-bookworm-slim", "node", "/"),
        ("library/python:3.12-slim@sha256:abc", "python", "/"),
    ],
)
def test_base_images_map_to_the_workers_toolchains(image: str, kind: str, workdir: str) -> None:
    base = base_image(image)
    assert (base.kind, base.workdir) == (kind, workdir)
    assert base.notes[0].startswith(f"[greenroom] FROM {image}: the image is not used; this worker's")
    if "playwright" in image or "selenium" in image:
        assert any("comes with browsers" in note for note in base.notes)
