"""python -m worker [--burst] [--webhooks]: one worker process, configured from GREENROOM_* variables."""

from __future__ import annotations

import argparse

from server.settings import Settings
from worker.main import run_worker


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m worker")
    parser.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    parser.add_argument("--webhooks", action="store_true", help="make webhook calls only")
    args = parser.parse_args()
    run_worker(Settings.from_env(), burst=args.burst, webhooks=args.webhooks)


if __name__ == "__main__":
    main()
