"""A premade sandbox's order and build view (worker/sandbox/views.py), piece by piece; the sandbox
they make is attacked in test_attacks.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from worker.sandbox.identity import try_identity
from worker.sandbox.views import WAITER, BuildView, order_script, shell_exports_exactly, supported, sweep


def _awkward(marker: Path) -> str:
    """Shell syntax a quoting slip would run (making `marker`) or split."""
    return f'it\'s "$(touch {marker})"; `touch {marker}` $HOME \\n\nsecond line\t* ~'


# The shell exports names like these itself (no env(1) exec: order_script); any other name, or one
# the shell gives meaning to, goes through env -i.
_EXPORTED = {"AWKWARD": None, "EMPTY": ""}
_THROUGH_ENV = {"AWKWARD": None, "NOT-A-NAME": "x", "IFS": "-", "PWD": "/elsewhere", "OLDPWD": ""}


@pytest.mark.parametrize("extra", [_EXPORTED, _THROUGH_ENV], ids=["exported", "through-env"])
def test_the_waiter_runs_the_order_exactly(tmp_path: Path, extra: dict[str, str | None]) -> None:
    """What the program gets from the waiter: its argv, cwd and environment, nothing more, and
    stdin /dev/null; shell syntax in them is data."""
    program = (
        "import json, os, sys; print(json.dumps("
        "[sys.argv[1:], os.getcwd(), dict(os.environ), os.readlink('/proc/self/fd/0')]))"
    )
    awkward = _awkward(tmp_path / "ran")
    # LC_ALL: Python sets LC_CTYPE in its own environment when no locale is given.
    env = {"PATH": os.environ["PATH"], "LC_ALL": "C.UTF-8"}
    env |= {name: awkward if value is None else value for name, value in extra.items()}
    script = order_script([sys.executable, "-c", program, awkward, ""], str(tmp_path), env)
    exported = extra is _EXPORTED and shell_exports_exactly()
    assert (b"/usr/bin/env -i" not in script) == exported
    done = subprocess.run(list(WAITER), input=script, capture_output=True, env={}, cwd="/", check=True)
    argv, cwd, seen_env, stdin = json.loads(done.stdout)
    assert argv == [awkward, ""]
    assert cwd == str(tmp_path)
    assert seen_env == env
    assert stdin == "/dev/null"
    assert not (tmp_path / "ran").exists()


def test_a_program_that_is_not_there_is_127(tmp_path: Path) -> None:
    script = order_script([str(tmp_path / "missing")], "/", {"PATH": "/usr/bin"})
    done = subprocess.run(list(WAITER), input=script, capture_output=True, env={}, cwd="/")
    assert done.returncode == 127


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts need root")
def test_a_view_shows_one_build_read_only_and_goes_whole(tmp_path: Path) -> None:
    if not supported(tmp_path):
        pytest.skip("this kernel has no open_tree/move_mount/mount_setattr")
    builds = tmp_path / "builds"
    for name in ("mine", "theirs"):
        (builds / name).mkdir(parents=True)
        (builds / name / "main.py").write_text(name)
    view = BuildView(tmp_path / "slot.view", builds)
    try:
        assert os.listdir(view.path) == []
        view.show(builds / "mine")
        assert os.listdir(view.path) == ["mine"]
        assert (view.path / "mine" / "main.py").read_text() == "mine"
        with pytest.raises(OSError, match="Read-only"):
            (view.path / "mine" / "main.py").write_text("changed")
    finally:
        view.close()
    assert not view.path.exists()
    assert (builds / "mine" / "main.py").read_text() == "mine"
    assert str(view.path) not in Path("/proc/self/mountinfo").read_text()
    # A view left behind by a worker that died is taken down when the uid's next slot makes its own.
    left = BuildView(tmp_path / "slot.view", builds)
    left.show(builds / "theirs")
    again = BuildView(tmp_path / "slot.view", builds)
    try:
        assert os.listdir(again.path) == []
    finally:
        again.close()
    assert str(again.path) not in Path("/proc/self/mountinfo").read_text()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts need root")
def test_a_pool_takes_down_the_views_of_workers_that_died(tmp_path: Path) -> None:
    """A view whose uid no worker holds is a dead worker's (its lock went with it): swept, with the
    build in it; a view whose uid is held stays."""
    if not supported(tmp_path):
        pytest.skip("this kernel has no open_tree/move_mount/mount_setattr")
    builds, scratch, locks = tmp_path / "builds", tmp_path / "uids", tmp_path / "locks"
    (builds / "b").mkdir(parents=True)
    locks.mkdir()
    dead = BuildView(scratch / "7.view", builds)
    dead.show(builds / "b")
    held = try_identity(8, locks)
    assert held is not None
    alive = BuildView(scratch / "8.view", builds)
    try:
        assert sweep(scratch, locks) == 1
        mounts = Path("/proc/self/mountinfo").read_text()
        assert str(dead.path) not in mounts and not dead.path.exists()
        assert f"{alive.path} " in mounts
    finally:
        alive.close()
        held.close()
    assert (builds / "b").is_dir()
