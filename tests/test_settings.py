"""Settings: read once from GREENROOM_* variables, passed to child processes intact."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from server.settings import Settings
from tests.actors import run_spec
from worker.env import actor_env


def test_every_setting_survives_the_trip_to_a_child_process() -> None:
    changed = Settings(
        data_dir=Path("/srv/gr"),
        database_url="postgresql://u@h/db",
        redis_url="redis://r:6379/2",
        host="0.0.0.0",
        port=9000,
        public_base_url="https://gr.example.com",
        internal_base_url="http://api:8000",
        redis_prefix="p",
        run_sync_wait_s=12.5,
        event_stream_keepalive_s=4.5,
        schedule_max_late_s=120.0,
        max_schedules_per_user=7,
        standby_ports=range(40000, 40100),
        standby_worker_host="10.0.0.7",
        standby_host="standby.example.com",
        standby_start_timeout_s=33.0,
        standby_request_timeout_s=44.0,
        standby_max_runs=5,
        wait_for_finish_max_s=7.0,
        max_body_bytes=10,
        max_record_bytes=20,
        max_json_depth=16,
        max_json_integer_digits=50,
        max_push_items=70,
        max_run_timeout_s=600,
        header_timeout_s=2.5,
        body_timeout_s=3.5,
        records_archive_max_bytes=30,
        records_archive_max_records=40,
        default_run_timeout_s=30,
        default_memory_mbytes=512,
        min_memory_mbytes=256,
        max_memory_mbytes=4096,
        memory_limit="poll",
        sandbox="auto",
        callable_modules=("acme.actors", "tools"),
        callable_process_runs=7,
        secrets_key="Z3JlZW5yb29tIHRlc3Qgc2V0dGluZ3Mga2V5LCAzMisgYnl0ZXM=",
        sandbox_uids=range(70000, 70010),
        sandbox_lock_dir=Path("/var/lock/gr"),
        sandbox_read_only_paths=("/opt/tools", "/srv/shared"),
        run_pids_max=64,
        run_cpu_shares=512,
        run_cpu_cores=1.5,
        log_max_chars=99,
        worker_processes=5,
        kill_grace_s=0.5,
        worker_stop_grace_s=4.0,
        abort_grace_s=3.0,
        run_lease_s=4.5,
        sweep_interval_s=0.5,
        sweep_lock_s=4.5,
        orphan_after_s=3.0,
        retention_days=30.0,
        build_timeout_s=60.0,
        persist_state_interval_s=5.0,
        system_info_interval_s=0.25,
        webhook_timeout_s=2.5,
        webhook_retry_delays_s=(0.5, 1.0, 7.25),
        webhook_allow_private=True,
        webhook_worker_processes=3,
        proxy_host="0.0.0.0",
        proxy_port=9001,
        proxy_hostname="proxy.internal",
        proxy_groups=(("DC", ("http://u:p@10.0.0.1:3128",)), ("RES", ("http://10.0.0.2:8080", "http://h:1"))),
        proxy_allow=("0.0.0.0/0",),
        proxy_deny=("10.0.0.0/8", "[::1]:5432"),
        proxy_max_connections=10,
        proxy_max_connections_per_run=2,
        proxy_max_bytes_per_run=1000,
        proxy_idle_timeout_s=5.0,
        proxy_connect_timeout_s=1.5,
        metrics_token="scrape-me",
        log_format="json",
        max_concurrent_runs=3,
        max_running_memory_mbytes=4096,
        max_run_memory_mbytes=2048,
        max_ready_runs=7,
        rate_limit_per_s=11,
        rate_limit_resource_per_s=12,
        rate_limit_record_per_s=13,
        rate_limit_heavy_per_s=14,
        max_in_flight_per_caller=15,
        max_queued_per_caller=16,
        admin_usernames=("root", "ops"),
    )
    defaults = Settings()
    assert all(getattr(changed, f.name) != getattr(defaults, f.name) for f in fields(Settings)), (
        "each field must differ from its default, or this test proves nothing for it"
    )
    assert Settings.from_env(changed.to_env()) == changed
    assert Settings.from_env({}) == defaults


@pytest.mark.parametrize("value", ["", "5", "200000", "0-100", "999-2000", "300-200", "a-b", "1000-x"])
def test_sandbox_uids_must_be_an_unprivileged_range(value: str) -> None:
    with pytest.raises(ValueError, match="GREENROOM_SANDBOX_UIDS"):
        Settings.from_env({"GREENROOM_SANDBOX_UIDS": value})


@pytest.mark.parametrize("value", ["", "80", "100-2000", "30000-70000", "4000-3000", "a-b"])
def test_standby_ports_must_be_a_range_of_unprivileged_ports(value: str) -> None:
    with pytest.raises(ValueError, match="GREENROOM_STANDBY_PORTS"):
        Settings.from_env({"GREENROOM_STANDBY_PORTS": value})


def test_sandbox_mode_is_checked() -> None:
    with pytest.raises(ValueError, match="GREENROOM_SANDBOX must be one of on, auto, off"):
        Settings.from_env({"GREENROOM_SANDBOX": "yes"})


def test_webhook_retry_delays_are_a_comma_list_and_empty_means_no_retries() -> None:
    assert Settings.from_env({"GREENROOM_WEBHOOK_RETRY_DELAYS_S": "1, 2.5,60"}).webhook_retry_delays_s == (
        1.0,
        2.5,
        60.0,
    )
    assert Settings.from_env({"GREENROOM_WEBHOOK_RETRY_DELAYS_S": ""}).webhook_retry_delays_s == ()
    assert Settings().webhook_retry_delays_s[:3] == (60.0, 120.0, 240.0)
    assert len(Settings().webhook_retry_delays_s) == 11
    with pytest.raises(ValueError, match="GREENROOM_WEBHOOK_RETRY_DELAYS_S"):
        Settings.from_env({"GREENROOM_WEBHOOK_RETRY_DELAYS_S": "5,-1"})


@pytest.mark.parametrize("name", ["MAX_IN_FLIGHT_PER_CALLER", "MAX_QUEUED_PER_CALLER", "RATE_LIMIT_PER_S"])
@pytest.mark.parametrize("value", ["-1", "many", "2.5"])
def test_request_limits_are_whole_numbers_from_zero(name: str, value: str) -> None:
    """A negative in-flight cap would hold every request forever: refused at start, named."""
    with pytest.raises(ValueError, match=f"GREENROOM_{name} must be a whole number >= 0"):
        Settings.from_env({f"GREENROOM_{name}": value})
    assert getattr(Settings.from_env({f"GREENROOM_{name}": "0"}), name.lower()) == 0


def test_an_unknown_memory_limit_mode_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="GREENROOM_MEMORY_LIMIT must be one of auto, cgroup, poll, off"):
        Settings.from_env({"GREENROOM_MEMORY_LIMIT": "rlimit"})


def test_actors_get_the_internal_url_and_the_public_one_separately() -> None:
    settings = Settings(public_base_url="https://gr.example.com/", internal_base_url="http://api:8000")
    env = actor_env(run_spec(), settings)
    assert env["APIFY_API_BASE_URL"] == "http://api:8000"
    assert env["APIFY_API_PUBLIC_BASE_URL"] == "https://gr.example.com"
    assert env["SECRET"] == "s3"
    assert env["ACTOR_TIMEOUT_AT"] == ""  # timeout 0: none
    assert env["ACTOR_FULL_NAME"] == "alice/hello"
    assert env["ACTOR_TASK_ID"] == ""


def test_without_an_internal_url_actors_use_the_public_one() -> None:
    env = actor_env(run_spec(), Settings(port=8123))
    assert env["APIFY_API_BASE_URL"] == env["APIFY_API_PUBLIC_BASE_URL"] == "http://127.0.0.1:8123"
