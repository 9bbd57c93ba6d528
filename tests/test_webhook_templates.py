"""Payload and headers templates (Apify's syntax) and the address guard, as pure functions."""

from __future__ import annotations

import ipaddress
import json

import pytest

from server.webhooks.targets import TargetRefused, check_address, check_literal_host, is_public, parse_url
from server.webhooks.templates import DEFAULT_PAYLOAD_TEMPLATE, TemplateError, header_values, render

CONTEXT = {
    "userId": "u1",
    "createdAt": "2026-01-02T03:04:05.678Z",
    "eventType": "ACTOR.RUN.SUCCEEDED",
    "eventData": {"actorId": "a1", "actorRunId": "r1"},
    "resource": {"id": "r1", "status": "SUCCEEDED", "exitCode": 0, "statusMessage": 'said "{{userId}}"'},
}


def test_the_default_template_is_apifys_payload() -> None:
    assert render(DEFAULT_PAYLOAD_TEMPLATE, CONTEXT, interpolate_strings=False) == {
        "userId": "u1",
        "createdAt": "2026-01-02T03:04:05.678Z",
        "eventType": "ACTOR.RUN.SUCCEEDED",
        "eventData": {"actorId": "a1", "actorRunId": "r1"},
        "resource": CONTEXT["resource"],
    }


def test_variables_with_dots_and_strings_with_and_without_interpolation() -> None:
    template = (
        '{"id": {{resource.id}}, "text": "run {{resource.id}} of {{userId}}", "whole": "{{eventData}}"}'
    )
    assert render(template, CONTEXT, interpolate_strings=False) == {
        "id": "r1",
        "text": "run {{resource.id}} of {{userId}}",
        "whole": "{{eventData}}",
    }
    assert render(template, CONTEXT, interpolate_strings=True) == {
        "id": "r1",
        "text": "run r1 of u1",
        "whole": {"actorId": "a1", "actorRunId": "r1"},
    }


def test_apifys_quirks_are_kept() -> None:
    # `value ? JSON.stringify(value) : null`: a 0, "" or false outside a string becomes null.
    assert render('{"code": {{resource.exitCode}}}', CONTEXT, interpolate_strings=False) == {"code": None}
    assert render('{"missing": {{resource.nope.deeper}}}', CONTEXT, interpolate_strings=False) == {
        "missing": None
    }
    assert render('["{{resource.exitCode}}"]', CONTEXT, interpolate_strings=True) == [0]


def test_a_value_put_in_is_never_read_as_a_template() -> None:
    # The status message holds "{{userId}}": it stays text, whatever the flag.
    for flag in (False, True):
        out = render('{"r": {{resource}}}', CONTEXT, interpolate_strings=flag)
        assert out["r"]["statusMessage"] == 'said "{{userId}}"'


@pytest.mark.parametrize(
    ("template", "flag", "message"),
    [
        ('{"a": {{token}}}', False, "Invalid payload template variable: token"),
        ('{"a": "{{token}}"}', True, "Invalid payload template variable: token"),
        ('{"a": {{resource}}', False, "not valid JSON"),
        ('{"a": NaN}', False, "not valid JSON"),
        ("{{userId", False, "not valid JSON"),
    ],
)
def test_bad_templates_are_refused(template: str, flag: bool, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        render(template, CONTEXT, interpolate_strings=flag)


def test_a_variable_inside_a_string_is_left_alone_without_the_flag_even_if_unknown() -> None:
    assert render('{"a": "{{token}}"}', CONTEXT, interpolate_strings=False) == {"a": "{{token}}"}


def test_header_values_are_text() -> None:
    rendered = render(
        '{"X-Run": {{resource.id}}, "X-Obj": {{eventData}}, "X-None": null}',
        CONTEXT,
        interpolate_strings=False,
    )
    assert header_values(rendered) == {"X-Run": "r1", "X-Obj": json.dumps(CONTEXT["eventData"])}
    with pytest.raises(TemplateError):
        header_values(["not", "an", "object"])


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
     "224.0.0.1", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::"],
)  # fmt: skip
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))
    with pytest.raises(TargetRefused, match="GREENROOM_WEBHOOK_ALLOW_PRIVATE"):
        check_address(address, allow_private=False)
    check_address(address, allow_private=True)


@pytest.mark.parametrize("address", ["1.1.1.1", "93.184.216.34", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))
    check_address(address, allow_private=False)


def test_urls() -> None:
    for bad in ("ftp://x/", "https://", "http://a b/", "http://x:99999/", "//host/path", "http://x/\n"):
        with pytest.raises(TargetRefused):
            parse_url(bad)
    with pytest.raises(TargetRefused):
        check_literal_host("http://[::1]:8000/x", allow_private=False)
    check_literal_host("http://localhost:8000/x", allow_private=False)  # names: checked when called
    check_literal_host("https://1.1.1.1/x", allow_private=False)
