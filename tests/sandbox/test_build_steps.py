"""Build steps run code too (a package's install scripts): as a sandbox uid, with nothing to write
but the directory being built, and nothing they leave there turns the worker (root) against the host."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import httpx
import pytest

from tests.actors import files_actor
from tests.stack import Stack

pytestmark = pytest.mark.skipif(shutil.which("npm") is None, reason="no npm here")

# The package's own install script: who it runs as, whether it can write outside its build, and
# symlinks left where the worker writes its marker and reads the Dockerfile.
INSTALL = (
    "id -u > whoami; touch /etc/pwned 2>/dev/null; echo $? > etc-write;"
    " ln -s {target} ../built.partial; ln -s {target} Dockerfile"
)


def test_a_build_steps_code_runs_as_a_sandbox_uid_and_its_symlinks_are_not_followed(
    api: httpx.Client, stack: Stack, tmp_path: Path
) -> None:
    if stack.settings.sandbox == "off":
        pytest.skip("this machine cannot sandbox actors (not root, or no bubblewrap)")
    target = tmp_path / f"host-file-{uuid.uuid4().hex}"
    target.write_text('CMD ["/bin/echo", "read through the symlink"]\n')
    os.chmod(tmp_path, 0o700)  # root's, as a host file the sandbox must not reach
    package = {"name": "planter", "version": "1.0.0", "scripts": {"install": INSTALL.format(target=target)}}
    files = {"package.json": json.dumps(package), "main.js": "console.log('ran main.js')"}
    actor = api.post("/acts", json=files_actor("planter", files)).json()["data"]
    build = api.get(f"/acts/{actor['id']}/builds/default", params={"waitForFinish": 60}).json()["data"]
    log = api.get(f"/actor-builds/{build['id']}/log").text
    assert build["status"] == "SUCCEEDED", log
    # The host file is as it was: the worker wrote its marker next to the symlink, not through it.
    assert target.read_text() == 'CMD ["/bin/echo", "read through the symlink"]\n'
    assert not Path("/etc/pwned").exists()
    (app,) = [
        p.parent
        for p in stack.settings.builds_dir.glob("*/app/whoami")
        if str(target) in p.parent.joinpath("package.json").read_text()
    ]
    assert int((app / "whoami").read_text()) in stack.settings.sandbox_uids
    assert (app / "etc-write").read_text().strip() != "0"
    assert (app / "whoami").stat().st_uid == 0  # the build is root's again once made
    run = api.post(f"/acts/{actor['id']}/runs", params={"waitForFinish": 60}).json()["data"]
    run_log = api.get(f"/actor-runs/{run['id']}/log").text
    # The Dockerfile symlink was not read: main.js, the default, ran.
    assert run["status"] == "SUCCEEDED" and "ran main.js" in run_log and "symlink" not in run_log, run_log
