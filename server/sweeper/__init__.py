"""The sweeper: what a dead worker or a lost job left behind, put right, and old data deleted.

- sweep.py: one sweep (expired leases, lost jobs, due webhook calls, retention) and Sweeper;
- retention.py: old finished runs and unused unnamed storages deleted;
- dispatches.py: webhook calls that are due, queued;
- lock.py: the Redis lock with a lease that makes one process of a deployment the sweeper;
- loop.py: where sweeps run: every worker pool's loop, and a thread of every API process.

It lives in server/ (which never imports worker/) because API processes run it too: a deployment
whose last worker pool died still fails (or restarts) that pool's runs and answers their waiters.
"""
