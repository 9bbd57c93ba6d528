"""A job Greenroom enqueues (server/queue.py) is the job RQ's own enqueue_call writes: the same hash,
field for field, in the same queue, which RQ's worker reads back as the same call."""

from __future__ import annotations

import uuid
from datetime import datetime

from redis import Redis
from rq.job import Job

from server.queue import EXECUTE_BUILD, EXECUTE_RUN, _enqueue, make_queue

_TIMES = {b"created_at", b"enqueued_at"}


def test_an_enqueued_job_is_the_hash_rqs_enqueue_call_writes(redis_url: str) -> None:
    with Redis.from_url(redis_url) as connection:
        queue = make_queue(connection, f"gr-jobs-{uuid.uuid4().hex[:8]}")
        try:
            # A run's job says announce=False when no one waits for its claim (enqueue_run_sync).
            for function, kwargs in (
                (EXECUTE_RUN, {}),
                (EXECUTE_BUILD, {}),
                (EXECUTE_RUN, {"announce": False}),
            ):
                ours, rqs, arg = (f"{side}{uuid.uuid4().hex[:10]}" for side in ("ours", "rqs", "arg"))
                assert _enqueue(queue, function, [ours], [arg], kwargs or None) >= 1
                with connection.pipeline() as pipeline:  # as server/queue.py enqueued before
                    queue.enqueue_call(
                        function,
                        args=(arg,),
                        kwargs=kwargs,
                        job_id=rqs,
                        timeout=-1,
                        result_ttl=600,
                        failure_ttl=86400,
                        pipeline=pipeline,
                    )
                    pipeline.execute()
                mine, theirs = (connection.hgetall(Job.key_for(job_id)) for job_id in (ours, rqs))
                assert mine.keys() == theirs.keys()
                assert {k: v for k, v in mine.items() if k not in _TIMES} == {
                    k: v for k, v in theirs.items() if k not in _TIMES
                }
                for key in _TIMES:  # RQ's own format, which its worker parses
                    datetime.strptime(mine[key].decode(), "%Y-%m-%dT%H:%M:%S.%fZ")
                assert connection.ttl(Job.key_for(ours)) == connection.ttl(Job.key_for(rqs)) == -1
                assert queue.job_ids[-2:] == [ours, rqs]
                job = Job.fetch(ours, connection=connection, serializer=queue.serializer)
                assert (job.func_name, job.args, job.kwargs, job.timeout) == (function, [arg], kwargs, -1)
                assert (job.get_status(), job.origin, job.result_ttl, job.failure_ttl) == (
                    "queued",
                    queue.name,
                    600,
                    86400,
                )
            assert queue.key.encode() in connection.smembers("rq:queues")
        finally:
            queue.delete(delete_jobs=True)
