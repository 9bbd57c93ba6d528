"""python -m worker.proxy: the proxy alone, configured from GREENROOM_* variables."""

from __future__ import annotations

from server.settings import Settings
from worker.proxy.main import run_proxy

if __name__ == "__main__":
    run_proxy(Settings.from_env())
