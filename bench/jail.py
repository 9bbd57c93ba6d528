"""What the sandbox's command line costs a process actor's start, piece by piece.

    .venv/bin/python bench/jail.py [--execs 100] [--rounds 2]

A sandboxed actor is exec'd as `bwrap [namespaces, binds] setpriv [uid, capabilities] -- program`
(worker/sandbox/jail.py), where an unsandboxed one is exec'd as `program`. This times /bin/true
started by subprocess.run each of these ways, --execs times in a row, the ways taking turns for
--rounds rounds: bare (the baseline), bwrap with one read-only bind of /, bwrap with the jail's
namespaces and binds but no setpriv, and the whole jail (its uid a free one, its scratch directories
and passwd files made for the purpose). Prints each way's median time per start over the rounds,
and its difference from bare. Run as root, with bubblewrap and setpriv installed. Numbers are
printed, never asserted.

Two more ways time what a premade sandbox's waiter (worker/sandbox/views.py) adds once its order
comes, outside any sandbox: /bin/sh reading an order that execs /bin/true through `env -i`, and one
that exports the environment itself (what order_script writes where the shell allows it).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/jail.py`: the repository root holds `bench`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cli import command_line, table_report
from worker.sandbox.jail import Jail, identity_files, toolchains
from worker.sandbox.views import WAITER, waiter_script

_UID = 64_999  # a uid no one here has: the jail only switches to it


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--execs", type=int, default=100, help="starts of each way per round (100)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds (2)")
    return parser.parse_args(argv)


# An actor's environment is a few dozen variables; these stand for them.
_ENV = {f"APIFY_VARIABLE_{index}": f"value {index}" for index in range(30)} | {"PATH": "/usr/bin:/bin"}


def ways(scratch: Path) -> dict[str, tuple[list[str], bytes | None]]:
    """Each way's command, and what goes to its stdin."""
    bwrap, setpriv = shutil.which("bwrap"), shutil.which("setpriv")
    if bwrap is None or setpriv is None:
        raise SystemExit("bench/jail.py needs bubblewrap and setpriv (apt-get install bubblewrap)")
    for name in ("home", "tmp", "users", "build"):
        (scratch / name).mkdir()
    identity_files(scratch / "users", _UID)
    jail = Jail(bwrap, setpriv, toolchains(()))
    whole = jail.command(
        ["/bin/true"],
        uid=_UID,
        cwd="/tmp",
        home=scratch / "home",
        tmp=scratch / "tmp",
        users=scratch / "users",
        read_only=[str(scratch / "build")],
    )
    return {
        "bare": (["/bin/true"], None),
        "bwrap, one bind of /": ([bwrap, "--ro-bind", "/", "/", "/bin/true"], None),
        "bwrap, the jail's namespaces and binds": ([*whole[: whole.index(setpriv)], "/bin/true"], None),
        "the whole jail (bwrap, then setpriv)": (whole, None),
        "the waiter's order, through env -i": (
            list(WAITER),
            waiter_script(["/bin/true"], "/", _ENV, exports=False),
        ),
        "the waiter's order, exported by the shell": (
            list(WAITER),
            waiter_script(["/bin/true"], "/", _ENV, exports=True),
        ),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="greenroom-jail-") as tmp:
        commands = ways(Path(tmp))
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, (command, order) in commands.items():
                began = time.perf_counter()
                for _ in range(args.execs):
                    subprocess.run(command, input=order, env={} if order else None, check=True)
                times[name].append((time.perf_counter() - began) / args.execs * 1000)
    bare = statistics.median(times["bare"])
    rows = [
        (name, f"{statistics.median(each):.2f}", f"{statistics.median(each) - bare:+.2f}")
        for name, each in times.items()
    ]
    header = [("command", command_line("bench/jail.py", argv)), ("program", "/bin/true, by subprocess.run")]
    print("\n".join(table_report(header, ("way", "ms per start (median of rounds)", "minus bare"), rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
