"""How the console shows stored things: a record by its content type, dataset items as a table."""

from __future__ import annotations

import json
from typing import Any

from server.public_urls import items_public_url
from server.storage.models import Dataset
from server.storage.rows import RecordView


def record_view(record: RecordView | None) -> dict[str, Any] | None:
    """How to show a record: JSON pretty-printed, text as text, an image as an image."""
    if record is None:
        return None
    kind = record.content_type.split(";")[0].strip().lower()
    if record.content_encoding:
        return {"kind": "binary", "content_type": record.content_type, "size": record.size}
    if kind == "application/json" or kind.endswith("+json"):
        try:
            return {
                "kind": "json",
                "text": json.dumps(json.loads(record.value), indent=2, ensure_ascii=False),
            }
        except (ValueError, RecursionError):  # records are stored as sent: not JSON, or too deep to show
            pass
    if kind.startswith("text/") or kind in ("application/json", "application/xml"):
        return {"kind": "text", "text": record.value.decode("utf-8", "replace")}
    if kind.startswith("image/"):
        return {"kind": "image", "content_type": record.content_type}
    return {"kind": "binary", "content_type": record.content_type, "size": record.size}


def item_table(items: list[Any]) -> tuple[list[str], list[list[str]]]:
    """Columns: the keys of the items in their first-seen order; cells as compact JSON for non-strings."""
    columns: list[str] = []
    for item in items:
        for key in item if isinstance(item, dict) else ():
            if key not in columns:
                columns.append(key)
    rows = []
    for item in items:
        row = item if isinstance(item, dict) else {}
        rows.append(
            ["" if k not in row else v if isinstance(v := row[k], str) else json.dumps(v) for k in columns]
        )
    return columns, rows


DATASET_FORMATS = ("json", "jsonl", "csv", "xlsx", "xml", "html", "rss")


def dataset_downloads(dataset: Dataset) -> list[tuple[str, str]]:
    """The dataset's items in every format, as its signed public URL (relative): no token in a URL."""
    url = items_public_url("", dataset)
    joiner = "&" if "?" in url else "?"
    return [(fmt, f"{url}{joiner}format={fmt}") for fmt in DATASET_FORMATS]
