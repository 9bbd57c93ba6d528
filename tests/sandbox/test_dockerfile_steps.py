"""A Dockerfile's RUN, COPY and ADD are build steps like pip and npm: as a sandbox uid, writing only the
build being made; a symlink a RUN leaves is never written through by the worker (root)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import httpx
import pytest

from tests.packages import text, version
from tests.stack import Stack


def _build(api: httpx.Client, name: str, files: dict[str, str]) -> tuple[dict, str]:
    body = {"name": name, "versions": [version([text(k, v) for k, v in files.items()])]}
    actor = api.post("/acts", json=body).json()["data"]
    build = api.get(f"/acts/{actor['id']}/builds/default", params={"waitForFinish": 60}).json()["data"]
    return build, api.get(f"/actor-builds/{build['id']}/log").text


def test_dockerfile_steps_run_as_a_sandbox_uid_and_copy_never_writes_through_a_symlink(
    api: httpx.Client, stack: Stack, tmp_path: Path
) -> None:
    if stack.settings.sandbox == "off":
        pytest.skip("this machine cannot sandbox actors (not root, or no bubblewrap)")
    marker = f"dockerfile-steps-{uuid.uuid4().hex}"
    run = f"RUN id -u > whoami && (touch /etc/{marker} 2>/dev/null; echo $? > etc-write)"
    files = {"Dockerfile": f'FROM node:20\n{run}\nCOPY main.js ./\nCMD ["node", "main.js"]\n', "main.js": "1"}
    build, log = _build(api, "docker-uid", files)
    assert build["status"] == "SUCCEEDED", log
    assert not Path(f"/etc/{marker}").exists()
    found = stack.settings.builds_dir.glob("*/app/whoami")
    (app,) = [p.parent for p in found if (p.parent / "main.js").read_text() == "1"]
    assert int((app / "whoami").read_text()) in stack.settings.sandbox_uids
    assert (app / "etc-write").read_text().strip() != "0"
    assert (app / "whoami").stat().st_uid == 0  # root's again once made

    target = tmp_path / f"host-file-{uuid.uuid4().hex}"
    target.write_text("the host's\n")
    os.chmod(tmp_path, 0o700)  # root's, as a host file the sandbox must not reach
    planted = f'FROM node:20\nRUN ln -s {target} planted\nCOPY payload.txt planted\nCMD ["node", "-e", "1"]\n'
    build, log = _build(api, "docker-symlink", {"Dockerfile": planted, "payload.txt": "overwritten\n"})
    # The COPY ran as the sandbox's uid, which cannot reach the host file: it failed, the file is intact.
    assert build["status"] == "FAILED", log
    assert target.read_text() == "the host's\n"
