"""SQLAlchemy tables: the whole state of Greenroom. Every change here needs an Alembic migration."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from server.storage.ids import new_id, utcnow

Id = String(17)
Json = JSON(none_as_null=True)


class Base(DeclarativeBase):
    pass


def _id() -> Mapped[str]:
    return mapped_column(Id, primary_key=True, default=new_id)


def _created() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = _id()
    username: Mapped[str] = mapped_column(String(30), unique=True, nullable=False)
    created_at: Mapped[datetime] = _created()


class ApiToken(Base):
    """A user's API token, stored hashed. run_id set: a token handed to one run, dropped when it ends."""

    __tablename__ = "api_tokens"
    id: Mapped[str] = _id()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    run_id: Mapped[str | None] = mapped_column(Id, index=True)
    created_at: Mapped[datetime] = _created()


class Actor(Base):
    __tablename__ = "actors"
    __table_args__ = (UniqueConstraint("user_id", "name"),)
    id: Mapped[str] = _id()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(63), nullable=False)
    title: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    is_public: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    # Apify's defaultRunOptions: build, timeoutSecs, memoryMbytes, restartOnError, maxItems.
    default_run_options: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    # Apify's versions array, as sent (secret env var values included; the API never returns them).
    versions: Mapped[list[dict[str, Any]]] = mapped_column(Json, nullable=False, default=list)
    # {"latest": {"buildId", "buildNumber", "finishedAt"}}
    tagged_builds: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    created_at: Mapped[datetime] = _created()
    modified_at: Mapped[datetime] = _created()


class Build(Base):
    """An immutable snapshot of an actor version: what a run executes."""

    __tablename__ = "builds"
    id: Mapped[str] = _id()
    act_id: Mapped[str] = mapped_column(
        ForeignKey("actors.id", ondelete="CASCADE"), nullable=False, index=True
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    version_number: Mapped[str] = mapped_column(String(8), nullable=False)
    build_number: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    source: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    started_at: Mapped[datetime] = _created()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (UniqueConstraint("user_id", "name"),)
    id: Mapped[str] = _id()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    act_id: Mapped[str] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(63), nullable=False)
    title: Mapped[str | None] = mapped_column(String(255))
    options: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    input: Mapped[Any] = mapped_column(Json, nullable=True)
    created_at: Mapped[datetime] = _created()
    modified_at: Mapped[datetime] = _created()


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_user_started", "user_id", "started_at"),)
    id: Mapped[str] = _id()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    act_id: Mapped[str] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), nullable=False)
    actor_task_id: Mapped[str | None] = mapped_column(Id, index=True)
    build_id: Mapped[str] = mapped_column(Id, nullable=False)
    build_number: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    status_message: Mapped[str | None] = mapped_column(Text)
    is_status_message_terminal: Mapped[bool | None] = mapped_column(Boolean)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    # Set with ABORTING: True = SIGTERM and a grace period, False = killed at once.
    abort_gracefully: Mapped[bool | None] = mapped_column(Boolean)
    origin: Mapped[str] = mapped_column(String(16), nullable=False, default="API")
    client_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(Text)
    # Apify's run options: build, timeoutSecs, memoryMbytes, diskMbytes, maxItems, maxTotalChargeUsd,
    # restartOnError.
    options: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    stats: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    # Ad-hoc webhooks from the `webhooks` parameter, validated; delivered by a later part.
    webhooks: Mapped[list[dict[str, Any]] | None] = mapped_column(Json)
    default_key_value_store_id: Mapped[str] = mapped_column(Id, nullable=False)
    default_dataset_id: Mapped[str] = mapped_column(Id, nullable=False)
    default_request_queue_id: Mapped[str] = mapped_column(Id, nullable=False)
    started_at: Mapped[datetime] = _created()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class KeyValueStore(Base):
    __tablename__ = "key_value_stores"
    __table_args__ = (UniqueConstraint("user_id", "name"),)
    id: Mapped[str] = _id()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str | None] = mapped_column(String(63))
    act_id: Mapped[str | None] = mapped_column(Id)
    act_run_id: Mapped[str | None] = mapped_column(Id)
    created_at: Mapped[datetime] = _created()
    modified_at: Mapped[datetime] = _created()
    accessed_at: Mapped[datetime] = _created()


class KeyValueRecord(Base):
    __tablename__ = "key_value_records"
    store_id: Mapped[str] = mapped_column(
        ForeignKey("key_value_stores.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(256), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    content_type: Mapped[str] = mapped_column(String(255), nullable=False)
    content_encoding: Mapped[str | None] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    modified_at: Mapped[datetime] = _created()


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("user_id", "name"),)
    id: Mapped[str] = _id()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str | None] = mapped_column(String(63))
    act_id: Mapped[str | None] = mapped_column(Id)
    act_run_id: Mapped[str | None] = mapped_column(Id)
    item_count: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    created_at: Mapped[datetime] = _created()
    modified_at: Mapped[datetime] = _created()
    accessed_at: Mapped[datetime] = _created()


class DatasetItem(Base):
    __tablename__ = "dataset_items"
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    data: Mapped[str] = mapped_column(Text, nullable=False)


class LogChunk(Base):
    """The run log, appended in chunks by the worker while the run goes."""

    __tablename__ = "log_chunks"
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    content: Mapped[str] = mapped_column(Text, nullable=False)
