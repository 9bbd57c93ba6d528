"""The proxy's pure parts: the username syntax, the operator's rules and groups, run passwords."""

from __future__ import annotations

import pytest

from server.settings import Settings
from worker.proxy.access import Destinations, Refused, parse_rule
from worker.proxy.auth import Principal
from worker.proxy.passwords import RUN_PASSWORD_CHARS, run_password, split_run_password
from worker.proxy.upstreams import Upstreams, parse_upstream
from worker.proxy.username import BadUsername, ProxyOptions, parse_username


def test_the_username_syntax_of_apify_proxy() -> None:
    assert parse_username("auto") == parse_username("") == ProxyOptions()
    assert parse_username("groups-A+B_2,session-s.1~x,country-US") == ProxyOptions(
        ("A", "B_2"), "s.1~x", "US"
    )
    assert parse_username("country-US_CA").country == "US_CA"
    assert parse_username("session-" + "x" * 50).session == "x" * 50
    for bad in ("groups-", "session-" + "x" * 51, "session-a b", "country-usa", "colour-red", "auto,auto"):
        with pytest.raises(BadUsername):
            parse_username(bad)


@pytest.mark.parametrize(
    ("rule", "allowed", "denied"),
    [
        ("10.0.0.0/8", [("11.0.0.1", 80)], [("10.1.2.3", 80), ("::ffff:10.0.0.1", 443)]),
        ("192.0.2.7:8080", [("192.0.2.7", 80)], [("192.0.2.7", 8080)]),
        ("[::1]:5432", [("::1", 80), ("127.0.0.1", 5432)], [("::1", 5432)]),
        ("fd00::/8", [("fe80::1", 1)], [("fd12::1", 1)]),
    ],
)
def test_deny_rules(rule: str, allowed: list[tuple[str, int]], denied: list[tuple[str, int]]) -> None:
    destinations = Destinations([], [parse_rule(rule)])
    for ip, port in allowed:
        destinations.check(ip, port)
    for ip, port in denied:
        with pytest.raises(Refused):
            destinations.check(ip, port)


def test_an_allow_list_admits_only_what_it_names_and_deny_wins() -> None:
    destinations = Destinations([parse_rule("203.0.113.0/24")], [parse_rule("203.0.113.9")])
    destinations.check("203.0.113.1", 443)
    for ip in ("198.51.100.1", "203.0.113.9"):
        with pytest.raises(Refused):
            destinations.check(ip, 443)


def test_the_services_are_denied_and_bad_rules_refused() -> None:
    settings = Settings(redis_url="redis://127.0.0.1:6390/0", database_url="postgresql://u@127.0.0.1:5999/d")
    destinations = Destinations.from_settings(settings)
    for port in (6390, 5999):
        with pytest.raises(Refused):
            destinations.check("127.0.0.1", port)
    destinations.check("127.0.0.1", 8080)
    for unspecified in ("0.0.0.0", "::", "::ffff:0.0.0.0"):  # Linux takes them for this host
        with pytest.raises(Refused):
            destinations.check(unspecified, 8080)
    with pytest.raises(ValueError, match="not a network"):
        Destinations.from_settings(settings.with_(proxy_deny=("example.com",)))


def test_groups_in_settings() -> None:
    env = {"GREENROOM_PROXY_GROUPS": '{"DC": ["http://u:p%40@10.0.0.1:3128"], "RES": ["http://h:8"]}'}
    groups = Settings.from_env(env).proxy_groups
    assert groups == (("DC", ("http://u:p%40@10.0.0.1:3128",)), ("RES", ("http://h:8",)))
    upstream = parse_upstream(groups[0][1][0])
    assert (upstream.host, upstream.port, upstream.authorization) == ("10.0.0.1", 3128, "Basic dTpwQA==")
    assert Upstreams(groups).unknown(ProxyOptions(("DC", "X"))) == ["X"]
    for bad in (
        "[]",
        '{"DC": []}',
        '{"a b": ["http://h:1"]}',
        '{"DC": ["https://h:1"]}',
        '{"DC": ["http://h"]}',
    ):
        with pytest.raises(ValueError, match="GREENROOM_PROXY_GROUPS"):
            Settings.from_env({"GREENROOM_PROXY_GROUPS": bad})


def test_a_run_password_names_its_run() -> None:
    password = run_password("a" * 17, "apify_api_token")
    assert len(password) == RUN_PASSWORD_CHARS and password.isalnum()
    assert split_run_password(password) == ("a" * 17, password[17:])
    assert run_password("a" * 17, "another token") != password
    assert split_run_password("x" * 24) is None
    assert Principal("u1", "r1").label == "run r1 (user u1)" and Principal("u1", None).key == "user u1"
