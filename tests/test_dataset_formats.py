"""Dataset item shaping and output formats (pure functions: no server, no database)."""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
import zipfile

import openpyxl

from server.api.dataset_formats import BOM, Rendering, Shaping, render, shape_items, table

ITEMS = [
    {"id": 1, "name": "a", "#hidden": "x", "nested": {"deep": {"v": 1}}, "tags": ["t1", "t2"]},
    {},
    {"id": 2, "name": "b", "#hidden": "y"},
]


def test_fields_keep_the_listed_order_and_omit_wins() -> None:
    shaped = shape_items(ITEMS, Shaping(fields=("name", "id", "missing"), omit=("id",)))
    assert shaped == [{"name": "a"}, {}, {"name": "b"}]
    assert [list(i) for i in shape_items(ITEMS, Shaping(fields=("name", "id")))] == [
        ["name", "id"],
        [],
        ["name", "id"],
    ]


def test_output_fields_rename_positionally() -> None:
    shaped = shape_items(ITEMS[:1], Shaping(fields=("name", "id"), output_fields=("title", "key")))
    assert shaped == [{"title": "a", "key": 1}]


def test_clean_drops_hidden_fields_and_empty_items() -> None:
    shaped = shape_items(ITEMS, Shaping(skip_hidden=True, skip_empty=True))
    assert len(shaped) == 2
    assert all(not k.startswith("#") for item in shaped for k in item)
    # An item that only had hidden fields is empty once they go.
    assert shape_items([{"#only": 1}], Shaping(skip_hidden=True, skip_empty=True)) == []
    assert shape_items([{"#only": 1}], Shaping(skip_hidden=True)) == [{}]


def test_unwind_arrays_objects_and_others() -> None:
    items = [
        {"a": 1, "list": [{"x": 1}, {"x": 2}]},
        {"a": 2, "obj": {"y": 3}},
        {"a": 3, "list": "scalar"},
        {"a": 4},
        {"a": 5, "list": [7, 8]},
    ]
    assert shape_items(items, Shaping(unwind=("list", "obj"))) == [
        {"a": 1, "x": 1},
        {"a": 1, "x": 2},
        {"a": 2, "y": 3},
        {"a": 3, "list": "scalar"},
        {"a": 4},
        {"a": 5, "list": 7},
        {"a": 5, "list": 8},
    ]


def test_flatten_named_fields_only() -> None:
    shaped = shape_items([{"foo": {"bar": 1, "baz": {"q": 2}}, "other": {"k": 1}}], Shaping(flatten=("foo",)))
    assert shaped == [{"foo.bar": 1, "foo.baz.q": 2, "other": {"k": 1}}]


def test_skip_failed_pages() -> None:
    assert shape_items([{"a": 1}, {"errorInfo": "x"}], Shaping(skip_failed_pages=True)) == [{"a": 1}]


def test_table_flattens_nested_values_into_slash_columns() -> None:
    columns, rows = table(ITEMS)
    assert columns == ["id", "name", "#hidden", "nested/deep/v", "tags/0", "tags/1"]
    assert rows[0] == [1, "a", "x", 1, "t1", "t2"]
    assert rows[1] == [None] * 6
    # With fields, the columns follow the fields even when the first item lacks one.
    columns, _ = table([{"b": 1}, {"a": 2, "b": 3}], ("a", "b"))
    assert columns == ["a", "b"]


def test_csv_has_a_bom_by_default_and_honours_options() -> None:
    body = render([{"a": 1, "b": "x,y"}, {"a": None, "b": True}], Rendering(format="csv"))
    assert body.startswith(BOM)
    rows = list(csv.reader(io.StringIO(body[len(BOM) :].decode())))
    assert rows == [["a", "b"], ["1", "x,y"], ["", "true"]]
    plain = render(
        [{"a": 1, "b": 2}], Rendering(format="csv", bom=False, delimiter=";", skip_header_row=True)
    )
    assert plain == b"1;2\r\n"


def test_json_and_jsonl_have_no_bom_unless_asked() -> None:
    assert render([{"é": 1}], Rendering()) == '[{"é": 1}]'.encode()
    assert render([{"a": 1}], Rendering(bom=True)).startswith(BOM)
    assert render([{"a": 1}, {"b": 2}], Rendering(format="jsonl")) == b'{"a": 1}\n{"b": 2}\n'


def test_xml_uses_root_and_row_names_and_escapes() -> None:
    body = render(
        [{"a": "<&>", "n": {"x": 1}, "l": [1, 2], "bad key": "\x01ok"}],
        Rendering(format="xml", xml_root="rows", xml_row="row"),
    )
    root = ET.fromstring(body)
    assert root.tag == "rows"
    row = root.find("row")
    assert row is not None
    assert row.findtext("a") == "<&>"
    assert row.findtext("n/x") == "1"
    assert [e.text for e in row.findall("l/item")] == ["1", "2"]
    assert row.findtext("bad_key") == "ok"


def test_html_is_an_escaped_table() -> None:
    body = render([{"a": "<script>"}], Rendering(format="html")).decode()
    assert "<th>a</th>" in body
    assert "&lt;script&gt;" in body and "<script>" not in body


def test_xlsx_is_a_workbook_with_numbers_and_strings() -> None:
    body = render([{"n": 1.5, "s": "x & y"}, {"n": 2}], Rendering(format="xlsx"))
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        names = set(archive.namelist())
        assert {"[Content_Types].xml", "xl/workbook.xml", "xl/worksheets/sheet1.xml"} <= names
        for name in names:  # every part is well-formed XML
            ET.fromstring(archive.read(name))
        sheet = archive.read("xl/worksheets/sheet1.xml").decode()
    assert '<c r="A2"><v>1.5</v></c>' in sheet
    assert re.search(r'<c r="B2" t="inlineStr"><is><t[^>]*>x &amp; y</t>', sheet)
    assert '<c r="A3"><v>2</v></c>' in sheet


def test_xlsx_opens_in_openpyxl() -> None:
    body = render([{"n": 1, "s": "x"}], Rendering(format="xlsx"))
    sheet = openpyxl.load_workbook(io.BytesIO(body)).active
    assert [[c.value for c in row] for row in sheet.iter_rows()] == [["n", "s"], [1, "x"]]


def test_non_object_items_pass_through() -> None:
    assert json.loads(render(shape_items([1, "x"], Shaping(skip_hidden=True)), Rendering())) == [1, "x"]
