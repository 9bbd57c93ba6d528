"""`python -m bench.rq_worker REDIS_URL QUEUE`: the baseline's worker.

Configured as worker.main.run_worker configures Greenroom's (SimpleWorker, WARNING logs, no
scheduler), minus the SQL engine, so the baseline is RQ itself and nothing of Greenroom.
"""

from __future__ import annotations

import sys

from redis import Redis
from rq import Queue, SimpleWorker


def main() -> None:
    redis_url, queue_name = sys.argv[1:3]
    connection = Redis.from_url(redis_url)
    worker = SimpleWorker([Queue(queue_name, connection=connection)], connection=connection)
    try:
        worker.work(logging_level="WARNING", with_scheduler=False)
    finally:
        connection.close()


if __name__ == "__main__":
    main()
