"""Dataset items: Apify's item transformations and output formats (pure functions, no I/O).

`shape_items` applies the item parameters (unwind, flatten, hidden fields, fields/omit, empty items);
`render` turns the shaped items into json, jsonl, csv, html, xml, rss or xlsx bytes.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape as html_escape
from typing import Any
from xml.sax.saxutils import escape as xml_escape

CONTENT_TYPES = {
    "json": "application/json",
    "jsonl": "application/jsonl",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "xml": "application/xml; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "rss": "application/rss+xml; charset=utf-8",
}
FORMATS = tuple(CONTENT_TYPES)
BOM = "\ufeff".encode()
# XML 1.0 cannot carry these characters at all, not even escaped.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
XML_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


@dataclass(frozen=True)
class Shaping:
    """What the item parameters ask for; an empty Shaping leaves the items as stored."""

    fields: tuple[str, ...] = ()
    output_fields: tuple[str, ...] = ()
    omit: tuple[str, ...] = ()
    unwind: tuple[str, ...] = ()
    flatten: tuple[str, ...] = ()
    skip_hidden: bool = False
    skip_empty: bool = False
    skip_failed_pages: bool = False

    @property
    def is_identity(self) -> bool:
        return self == Shaping()


@dataclass(frozen=True)
class Rendering:
    format: str = "json"
    bom: bool | None = None  # None: Apify's default, on for csv only
    delimiter: str = ","
    skip_header_row: bool = False
    xml_root: str = "items"
    xml_row: str = "item"
    feed_title: str = "Dataset"
    feed_description: str = ""


def _unwind_one(item: dict[str, Any], field: str) -> list[dict[str, Any]]:
    """An array becomes one record per element merged into the parent, an object merges into the
    parent; anything else (or a missing field) leaves the item as it is."""
    value = item.get(field)
    if not isinstance(value, (list, dict)):
        return [item]
    parent = {k: v for k, v in item.items() if k != field}
    if isinstance(value, dict):
        return [{**parent, **value}]
    if not value:  # nothing to spread: keep the parent rather than lose the whole item
        return [parent]
    return [{**parent, **el} if isinstance(el, dict) else {**parent, field: el} for el in value]


def flatten_value(prefix: str, value: Any, sep: str, out: dict[str, Any]) -> None:
    """{"foo": {"bar": 1}} → {"foo<sep>bar": 1}; arrays flatten by index. Empty containers stay."""
    if isinstance(value, dict) and value:
        for key, sub in value.items():
            flatten_value(f"{prefix}{sep}{key}", sub, sep, out)
    elif isinstance(value, list) and value:
        for index, sub in enumerate(value):
            flatten_value(f"{prefix}{sep}{index}", sub, sep, out)
    else:
        out[prefix] = value


def _flatten_fields(item: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in item.items():
        if key in fields and isinstance(value, (dict, list)):
            flatten_value(key, value, ".", out)
        else:
            out[key] = value
    return out


def _pick(item: dict[str, Any], shaping: Shaping) -> dict[str, Any]:
    """fields (in their order, renamed by outputFields), then omit, which wins over fields."""
    omit = set(shaping.omit)
    if shaping.fields:
        names = shaping.output_fields or shaping.fields
        pairs = zip(shaping.fields, names, strict=True)
        return {out: item[f] for f, out in pairs if f in item and f not in omit}
    return {k: v for k, v in item.items() if k not in omit} if omit else item


def shape_items(items: Iterable[Any], shaping: Shaping) -> list[Any]:
    """Apply the item parameters in Apify's order: skipFailedPages, unwind, flatten, skipHidden,
    fields/outputFields/omit, then skipEmpty. Items that are not objects pass through untouched."""
    out: list[Any] = []
    for item in items:
        if not isinstance(item, dict):
            out.append(item)
            continue
        if shaping.skip_failed_pages and "errorInfo" in item:
            continue
        expanded = [item]
        for field in shaping.unwind:
            expanded = [part for one in expanded for part in _unwind_one(one, field)]
        for one in expanded:
            if shaping.flatten:
                one = _flatten_fields(one, shaping.flatten)
            if shaping.skip_hidden:
                one = {k: v for k, v in one.items() if not k.startswith("#")}
            one = _pick(one, shaping)
            if shaping.skip_empty and not one:
                continue
            out.append(one)
    return out


def _cell(value: Any) -> str:
    """A table cell: strings as they are, null empty, everything else as JSON (true, 1.5, [])."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def table(items: list[Any], fields: tuple[str, ...] = ()) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows for the tabular formats: nested values flatten to "a/b" and "a/0" columns,
    columns come in order of first appearance (grouped under `fields` order when it was given)."""
    flat_rows: list[dict[str, Any]] = []
    groups: dict[str, list[str]] = {}
    for item in items:
        row: dict[str, Any] = {}
        source = item if isinstance(item, dict) else {"value": item}
        for key, value in source.items():
            before = len(row)
            flatten_value(key, value, "/", row)
            group = groups.setdefault(key, [])
            for column in list(row)[before:]:
                if column not in group:
                    group.append(column)
        flat_rows.append(row)
    order = [f for f in fields if f in groups] + [k for k in groups if k not in fields]
    columns = [column for key in order for column in groups[key]]
    return columns, [[row.get(c) for c in columns] for row in flat_rows]


def _csv(items: list[Any], rendering: Rendering, fields: tuple[str, ...]) -> bytes:
    columns, rows = table(items, fields)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=rendering.delimiter, lineterminator="\r\n")
    if not rendering.skip_header_row:
        writer.writerow(columns)
    writer.writerows([_cell(v) for v in row] for row in rows)
    return buffer.getvalue().encode()


def _html(items: list[Any], fields: tuple[str, ...]) -> bytes:
    columns, rows = table(items, fields)
    head = "".join(f"<th>{html_escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html_escape(_cell(v))}</td>" for v in row) + "</tr>\n" for row in rows
    )
    page = (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n<title>Dataset items</title>\n'
        f"</head>\n<body>\n<table>\n<tr>{head}</tr>\n{body}</table>\n</body>\n</html>\n"
    )
    return page.encode()


def _xml_text(value: str) -> str:
    return xml_escape(_XML_ILLEGAL.sub("", value))


def _xml_name(key: str) -> str:
    """A JSON key as an element name: characters XML forbids become "_"."""
    name = re.sub(r"[^A-Za-z0-9_.\-]", "_", key)
    return name if XML_NAME_RE.fullmatch(name) else f"_{name}"


def _xml_value(name: str, value: Any) -> str:
    tag = _xml_name(name)
    if isinstance(value, dict):
        inner = "".join(_xml_value(k, v) for k, v in value.items())
    elif isinstance(value, list):
        inner = "".join(_xml_value("item", v) for v in value)
    else:
        inner = _xml_text(_cell(value))
    return f"<{tag}>{inner}</{tag}>"


def _xml(items: list[Any], rendering: Rendering) -> bytes:
    rows = "".join(_xml_value(rendering.xml_row, item) + "\n" for item in items)
    root = rendering.xml_root
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root}>\n{rows}</{root}>\n'.encode()


def _rss(items: list[Any], rendering: Rendering) -> bytes:
    """An RSS 2.0 channel: each item's fields become children of its <item>, as in the xml format."""
    rows = "".join(_xml_value("item", item) + "\n" for item in items)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0">\n<channel>\n'
        f"<title>{_xml_text(rendering.feed_title)}</title>\n"
        f"<description>{_xml_text(rendering.feed_description)}</description>\n"
        f"{rows}</channel>\n</rss>\n"
    ).encode()


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _xlsx_cell(ref: str, value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'<c r="{ref}"><v>{value!r}</v></c>'
    text = _xml_text(_cell(value))
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'


_XLSX_STATIC = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'spreadsheetml.styles+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>"
    ),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/styles" Target="styles.xml"/>'
        "</Relationships>"
    ),
    "xl/styles.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
        '<fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>'
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        "</styleSheet>"
    ),
}


def _xlsx(items: list[Any], fields: tuple[str, ...]) -> bytes:
    """A one-sheet workbook: a header row, then one row per item (numbers as numbers)."""
    columns, rows = table(items, fields)
    lines = [columns, *rows]
    sheet_rows = "".join(
        f'<row r="{r + 1}">'
        + "".join(_xlsx_cell(f"{_column_letter(c)}{r + 1}", v) for c, v in enumerate(line))
        + "</row>"
        for r, line in enumerate(lines)
    )
    sheet = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"<sheetData>{sheet_rows}</sheetData></worksheet>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in _XLSX_STATIC.items():
            archive.writestr(name, text)
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
    return buffer.getvalue()


def render(items: list[Any], rendering: Rendering, fields: tuple[str, ...] = ()) -> bytes:
    """The items in the requested format. `fields` orders the columns of the tabular formats."""
    fmt = rendering.format
    if fmt == "json":
        body = json.dumps(items, ensure_ascii=False).encode()
    elif fmt == "jsonl":
        body = "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items).encode()
    elif fmt == "csv":
        body = _csv(items, rendering, fields)
    elif fmt == "html":
        body = _html(items, fields)
    elif fmt == "xml":
        body = _xml(items, rendering)
    elif fmt == "rss":
        body = _rss(items, rendering)
    elif fmt == "xlsx":
        return _xlsx(items, fields)
    else:
        raise ValueError(f"unknown format {fmt!r}")
    bom = rendering.bom if rendering.bom is not None else fmt == "csv"
    return BOM + body if bom else body
