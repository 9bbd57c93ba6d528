"""Every operation of Apify's spec is served or listed with its reason, and the README says so."""

from __future__ import annotations

from pathlib import Path

from tests.contract.coverage import NOT_PROVIDED, readme_section, served, spec_operations

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_operation_is_served_or_has_a_reason() -> None:
    every = set(spec_operations())
    unexplained = sorted(every - served() - set(NOT_PROVIDED))
    assert not unexplained, f"operations neither served nor listed in NOT_PROVIDED: {unexplained}"
    stale = sorted(set(NOT_PROVIDED) & served())
    assert not stale, f"served, yet listed as not provided: {stale}"
    unknown = sorted(set(NOT_PROVIDED) - every)
    assert not unknown, f"listed, but not in the spec: {unknown}"


def test_the_readme_tells_the_coverage() -> None:
    assert readme_section() in README.read_text(), (
        "README.md's section on Apify's OpenAPI operations is out of date; replace it with:\n\n"
        + readme_section()
    )
