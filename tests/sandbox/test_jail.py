"""The sandbox's mounts: what an actor sees of the machine."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from server.settings import Settings
from worker.sandbox import Sandbox, probe
from worker.sandbox.jail import Jail


def test_a_toolchain_under_tmp_is_not_hidden_by_the_sandboxs_own_tmp(
    sandbox_mode: str, tmp_path: Path
) -> None:
    """A Greenroom cloned under /tmp runs its actors with the virtualenv there: before, the sandbox
    mounted its /tmp over it and every process actor failed to start."""
    if sandbox_mode == "off":
        pytest.skip("no sandbox on this machine")
    box = probe(Settings())
    assert isinstance(box, Sandbox)
    assert str(tmp_path).startswith("/tmp/")
    toolchain = tmp_path / "toolchain"
    (toolchain / "bin").mkdir(parents=True)
    hello = toolchain / "bin" / "hello"
    hello.write_text("#!/bin/sh\necho hello from the toolchain\n")
    hello.chmod(0o755)
    for part in (tmp_path, *tmp_path.parents):  # the sandbox's uid passes through on the host side
        if str(part).startswith("/tmp/"):
            part.chmod(part.stat().st_mode | 0o005)
    jail = Jail(box.jail.bwrap, box.jail.setpriv, (*box.jail.toolchains, str(toolchain)))
    done = subprocess.run(
        jail.command([str(hello)], uid=65534, cwd="/", home=None, tmp=None),
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"hello from the toolchain\n"
