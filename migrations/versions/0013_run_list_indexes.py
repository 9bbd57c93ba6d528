"""Run lists with many stored runs (issue 15): each list a user can ask for has an index in its own
order, so a page reads its rows in order instead of sorting the user's runs.

- `ix_runs_user_started` (user_id, started_at) becomes (user_id, started_at, id): the lists order
  by startedAt, then id, and the id needed a sort of its own;
- `ix_runs_user_status` (user_id, status) becomes (user_id, status, started_at, id): `?status=`
  lists, and still the counts of a user's active and READY runs (server/storage/limits.py);
- new: (user_id, act_id, started_at, id) and (user_id, actor_task_id, started_at, id) for an actor's
  and a task's runs, which before read every run of the user.

bench/lists.py measures them with 100 and 100,000 runs.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_NEW = {
    "ix_runs_user_started_id": ["user_id", "started_at", "id"],
    "ix_runs_user_status_started": ["user_id", "status", "started_at", "id"],
    "ix_runs_user_act_started": ["user_id", "act_id", "started_at", "id"],
    "ix_runs_user_task_started": ["user_id", "actor_task_id", "started_at", "id"],
}
_OLD = {"ix_runs_user_started": ["user_id", "started_at"], "ix_runs_user_status": ["user_id", "status"]}


def upgrade() -> None:
    for name, columns in _NEW.items():
        op.create_index(name, "runs", columns)
    for name in _OLD:
        op.drop_index(name, table_name="runs")


def downgrade() -> None:
    for name, columns in _OLD.items():
        op.create_index(name, "runs", columns)
    for name in _NEW:
        op.drop_index(name, table_name="runs")
