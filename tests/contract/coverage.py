"""Which of the operations in Apify's OpenAPI spec Greenroom serves, and why each other one is not.

`NOT_PROVIDED` is the one list of reasons; tests/contract/test_coverage.py checks that every
operation of the spec is either served (a route, so the contract tests check it) or listed here, and
that the README's section "Apify's OpenAPI operations" says exactly this (`readme_section()`).
"""

from __future__ import annotations

from tests.contract.spec import METHODS, _load_item_methods, covered_operations, spec_paths

# (method, spec path) -> why Greenroom does not serve it.
NOT_PROVIDED: dict[tuple[str, str], str] = {
    ("GET", "/v2/store"): "Apify Store is Apify's public marketplace of other people's actors; a "
    "self-hosted Greenroom has no store to list",
}


def spec_operations() -> list[tuple[str, str]]:
    """Every (METHOD, path) of the spec, in the spec's order."""
    return [
        (method.upper(), path)
        for path in spec_paths()
        for method in METHODS
        if method in _load_item_methods(path)
    ]


def served() -> set[tuple[str, str]]:
    return {(op.method, op.spec_path) for op in covered_operations()}


def readme_section() -> str:
    """The README's table of what is not served, with the count (generated; kept true by a test)."""
    every = spec_operations()
    serving = served()
    lines = [
        f"Greenroom serves **{sum(op in serving for op in every)} of the {len(every)} operations** in "
        "Apify's OpenAPI spec (each checked by the contract tests: a valid request answers what the "
        "spec's response schema allows, bad input never a 5xx). The others answer 404 "
        "`page-not-found`:",
        "",
        "| operation | why not |",
        "|---|---|",
    ]
    reason = NOT_PROVIDED.get
    lines += [
        f"| `{m} {p}` | {reason((m, p), '(no reason given)')} |" for m, p in every if (m, p) not in serving
    ]
    return "\n".join(lines)
