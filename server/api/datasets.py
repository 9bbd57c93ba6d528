"""/v2/datasets: the collection (list, get-or-create), one dataset (get, rename, delete) and its items.

The `*_for` functions take a dataset already resolved, so run-scoped routes (a run's default dataset)
can answer with the same code.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from server import strict_json
from server.api import dataset_formats as fmt
from server.api.auth import authenticate, read_as_caller
from server.api.body import here_or_off_loop, off_loop, read_decoded
from server.api.params import parse_bool, parse_int
from server.api.signed_reads import readable_dataset
from server.api.storages import StorageKind
from server.errors import InvalidInput, InvalidRequest, NotFound
from server.lifespan import AppState, state_of
from server.responses import data_response, raw_json_response
from server.services.charges import charge_default_dataset_items
from server.services.dataset_statistics import dataset_statistics
from server.services.resolve import dataset_sync
from server.shapes import dataset_json
from server.storage.datasets import append_items, delete_dataset_stmts, dumped, list_items_stmt
from server.storage.db import INLINE_WRITE_MAX_BYTES
from server.storage.models import Dataset, User

# What Apify reports as the limit when none was given (the Python SDK also sends it as a limit).
NO_LIMIT = 999_999_999_999


@dataclass(frozen=True)
class ItemsQuery:
    """Every parameter of GET .../items, checked: a bad one is a 400 before anything runs."""

    offset: int
    limit: int | None
    desc: bool
    shaping: fmt.Shaping
    rendering: fmt.Rendering
    attachment: bool


def _names(params: QueryParams, name: str) -> tuple[str, ...]:
    """A comma list ("a,b" or repeated parameters), blanks dropped."""
    raw = ",".join(params.getlist(name))
    if "\x00" in raw:
        raise InvalidInput(f"Parameter '{name}' must not contain NUL characters.")
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _xml_name(params: QueryParams, name: str, default: str) -> str:
    value = params.get(name) or default
    if not fmt.XML_NAME_RE.fullmatch(value):
        raise InvalidInput(f"Parameter '{name}' must be a valid XML element name.")
    return value


def items_query(params: QueryParams) -> ItemsQuery:
    output_format = (params.get("format") or "json").lower()
    if output_format not in fmt.FORMATS:
        raise InvalidInput(f"Parameter 'format' must be one of {', '.join(fmt.FORMATS)}.")
    delimiter = params.get("delimiter") or ","
    if len(delimiter) != 1 or delimiter in '"\r\n':
        raise InvalidInput("Parameter 'delimiter' must be one character (not a quote or a line break).")
    fields, unwind = _names(params, "fields"), _names(params, "unwind")
    if parse_bool(params, "simplified"):
        # Apify's legacy-crawler shortcut, spelled out in its docs.
        fields, unwind = ("url", "pageFunctionResult", "errorInfo"), ("pageFunctionResult",)
    output_fields = _names(params, "outputFields")
    if output_fields and len(output_fields) != len(fields):
        raise InvalidInput("Parameter 'outputFields' must name as many fields as 'fields'.")
    clean = bool(parse_bool(params, "clean"))
    shaping = fmt.Shaping(
        fields=fields,
        output_fields=output_fields,
        omit=_names(params, "omit"),
        unwind=unwind,
        flatten=_names(params, "flatten"),
        skip_hidden=clean or bool(parse_bool(params, "skipHidden")),
        skip_empty=clean or bool(parse_bool(params, "skipEmpty")),
        skip_failed_pages=bool(parse_bool(params, "skipFailedPages")),
    )
    rendering = fmt.Rendering(
        format=output_format,
        bom=parse_bool(params, "bom"),
        delimiter=delimiter,
        skip_header_row=bool(parse_bool(params, "skipHeaderRow")),
        xml_root=_xml_name(params, "xmlRoot", "items"),
        xml_row=_xml_name(params, "xmlRow", "item"),
        # Apify's defaults name the dataset, which is not known yet: items_response fills them in.
        feed_title=params.get("feedTitle") or "",
        feed_description=params.get("feedDescription") or "",
    )
    limit = parse_int(params, "limit") or None  # 0 or missing: no limit
    return ItemsQuery(
        # Clamped so a huge value cannot overflow the database's 64-bit LIMIT/OFFSET.
        offset=min(parse_int(params, "offset") or 0, NO_LIMIT),
        limit=None if limit is None else min(limit, NO_LIMIT),
        desc=bool(parse_bool(params, "desc")),
        shaping=shaping,
        rendering=rendering,
        attachment=bool(parse_bool(params, "attachment")),
    )


async def items_response(
    state: AppState, dataset: Dataset, query: ItemsQuery, *, head: bool = False, status_code: int = 200
) -> Response:
    """The items in the query's format with the five X-Apify-Pagination-* headers.

    Count is the number of stored items read, before skipEmpty or unwind change how many come out:
    that is what Apify reports and what the clients' iterators advance their offset by.
    """
    total = dataset.item_count
    if head:
        rows: list[str] = []
        count = max(0, min(query.limit or NO_LIMIT, total - query.offset))
    else:
        async with state.db.read() as session:
            stmt = list_items_stmt(dataset.id, query.offset, query.limit, query.desc)
            rows = list((await session.execute(stmt)).scalars().all())
        count = len(rows)
    rendering = replace(
        query.rendering,
        feed_title=query.rendering.feed_title or f"Dataset {dataset.name or dataset.id}",
        feed_description=query.rendering.feed_description or f'Items in dataset with id "{dataset.id}".',
    )
    if rendering.format == "json" and query.shaping.is_identity:
        # Stored items are already JSON text: join them rather than parse and re-serialise.
        body = ("[" + ",".join(rows) + "]").encode()
        body = fmt.BOM + body if rendering.bom else body
    else:
        items = fmt.shape_items((json.loads(row) for row in rows), query.shaping)
        fields = query.shaping.output_fields or query.shaping.fields
        body = fmt.render(items, rendering, fields)
    headers = {
        "Content-Type": fmt.CONTENT_TYPES[rendering.format],
        "X-Apify-Pagination-Offset": str(query.offset),
        "X-Apify-Pagination-Limit": str(query.limit or NO_LIMIT),
        "X-Apify-Pagination-Count": str(count),
        "X-Apify-Pagination-Total": str(total),
        "X-Apify-Pagination-Desc": "true" if query.desc else "false",
    }
    if query.attachment:
        filename = f"dataset_{dataset.name or dataset.id}.{rendering.format}"
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    if head:
        return Response(None, status_code, headers)
    return Response(body, status_code, headers)


async def list_items_for(request: Request, state: AppState, user: User, dataset: Dataset) -> Response:
    """GET/HEAD items of a dataset resolved by the caller."""
    query = items_query(request.query_params)
    return await items_response(state, dataset, query, head=request.method == "HEAD")


async def list_items(request: Request) -> Response:
    state = state_of(request)
    query = items_query(request.query_params)  # before any read: bad parameters are 400 first
    async with state.db.read() as session:
        # A signature opens the items without a token (a signed public URL).
        dataset = await readable_dataset(request, session, request.path_params["datasetId"])
    return await items_response(state, dataset, query, head=request.method == "HEAD")


# Items dumped on the event loop at most; more go to a worker thread.
_DUMPED_HERE = 1000


async def _read_items(request: Request, state: AppState) -> list[str]:
    """The pushed items, dumped as stored, at most max_push_items of them; parsed one item at a time,
    a large body in a worker thread, so a body of a million small items is refused at the limit
    without holding the event loop."""
    settings = state.settings
    raw = await read_decoded(request, settings.max_body_bytes)
    if not raw.strip():
        body = None
    else:
        body = await here_or_off_loop(
            len(raw), strict_json.loads_items, raw, settings, settings.max_push_items
        )
    items = [body] if isinstance(body, dict) else body
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise InvalidRequest("Dataset items must be a JSON object or an array of objects.")
    # A json.dumps per item: off the event loop for a large push.
    return dumped(items) if len(items) <= _DUMPED_HERE else await off_loop(dumped, items)


def _append(session: Session, dataset: Dataset, texts: list[str]) -> None:
    """Append in order, all or nothing (with the pay-per-event charge for them, if any)."""
    if not texts:
        return
    if not append_items(session, dataset.id, texts):  # deleted since it was resolved
        raise NotFound("Dataset was not found")
    charge_default_dataset_items(session, dataset, len(texts))


def _pushed(state: AppState, dataset_id: str) -> Response:
    response = raw_json_response({}, 201)
    response.headers["Location"] = f"{state.settings.api_base_url}/v2/datasets/{dataset_id}/items"
    return response


async def push_items_for(request: Request, state: AppState, user: User, dataset: Dataset) -> Response:
    """POST items (one object or an array of objects) to a dataset resolved by the caller."""
    texts = await _read_items(request, state)
    await state.db.quick_write(lambda session: _append(session, dataset, texts), inline=_inline(texts))
    return _pushed(state, dataset.id)


async def push_items(request: Request) -> Response:
    """The SDK's hot path (a crawl pushes every page's item): one sync unit of work resolves the
    dataset and appends."""
    state = state_of(request)
    user = await authenticate(request)
    texts = await _read_items(request, state)
    ref = request.path_params["datasetId"]

    def push(session: Session) -> str:
        dataset = dataset_sync(session, user, ref)
        _append(session, dataset, texts)
        return dataset.id

    return _pushed(state, await state.db.quick_write(push, inline=_inline(texts)))


def _inline(texts: list[str]) -> bool:
    """Whether a push may be written on the event loop's thread (Database.quick_write): a crawl's
    page item may; a large batch goes to a writer thread."""
    return sum(len(text) for text in texts) <= INLINE_WRITE_MAX_BYTES


async def get(request: Request) -> Response:
    state, user, dataset = await _resolved(request)
    return data_response(dataset_json(dataset, user, state.settings.api_base_url))


async def _shape(
    session: AsyncSession, rows: Sequence[Dataset], user: User, base: str
) -> list[dict[str, Any]]:
    return [dataset_json(d, user, base) for d in rows]


DATASETS = StorageKind(Dataset, "Dataset", "datasets", _shape, listed_name_required=True)
list_, get_or_create, update_for = DATASETS.list_, DATASETS.get_or_create, DATASETS.update_for


async def delete_for(request: Request, state: AppState, user: User, dataset: Dataset) -> Response:
    """DELETE: the dataset and all its items, 204."""
    async with state.db.transaction() as session:
        for stmt in delete_dataset_stmts(dataset.id):
            await session.execute(stmt)
    return Response(status_code=204)


async def _resolved(request: Request) -> tuple[AppState, User, Dataset]:
    ref = request.path_params["datasetId"]
    user, dataset = await read_as_caller(request, lambda session, user: dataset_sync(session, user, ref))
    return state_of(request), user, dataset


async def update(request: Request) -> Response:
    return await update_for(request, *await _resolved(request))


async def delete_(request: Request) -> Response:
    return await delete_for(request, *await _resolved(request))


async def statistics_for(request: Request, state: AppState, user: User, dataset: Dataset) -> Response:
    """GET .../statistics: field statistics measured from the stored items."""
    return data_response(await dataset_statistics(state.db, dataset.id))


async def statistics(request: Request) -> Response:
    return await statistics_for(request, *await _resolved(request))
