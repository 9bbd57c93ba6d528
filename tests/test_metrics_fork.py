"""A forked process counts into files of its own pid (server/observability/metrics.py keeps the pid
instead of asking the kernel at every change): a child forked before or after the first instrument
never writes into its parent's files, and the counts add up."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

_SCRIPT = textwrap.dedent(
    """
    import os, sys
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = sys.argv[1]
    from server.observability import metrics

    def child(times):
        pid = os.fork()
        if pid == 0:
            for _ in range(times):
                metrics.instruments().webhook_calls.labels("succeeded").inc()
            os._exit(0)
        os.waitpid(pid, 0)
        return pid

    early = child(3)  # forked before this process made its first instrument (a forkserver's child)
    metrics.instruments().webhook_calls.labels("succeeded").inc()
    late = child(5)  # forked after
    print(os.getpid(), early, late)
    """
)


def test_forked_children_count_into_files_of_their_own(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(tmp_path)], cwd=root, capture_output=True, text=True, check=True
    )
    parent, early, late = (int(pid) for pid in done.stdout.split())
    counters = sorted(path.name for path in tmp_path.glob("counter_*.db"))
    assert counters == sorted(f"counter_{pid}.db" for pid in (parent, early, late))

    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(tmp_path))
    assert registry.get_sample_value("greenroom_webhook_calls_total", {"result": "succeeded"}) == 9
