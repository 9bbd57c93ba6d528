"""Apify's list envelope: {total, offset, limit, count, desc, items}."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVarTuple

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute
from starlette.requests import Request
from starlette.responses import Response

from server.api.params import parse_bool, parse_int
from server.responses import data_response

MAX_LIMIT = 1000
Ts = TypeVarTuple("Ts")


@dataclass(frozen=True)
class Page:
    offset: int
    limit: int
    desc: bool

    def apply(self, stmt: Select[*Ts], order_by: InstrumentedAttribute[Any]) -> Select[*Ts]:
        order = order_by.desc() if self.desc else order_by.asc()
        return stmt.order_by(order).offset(self.offset).limit(self.limit)


def page_params(request: Request) -> Page:
    params = request.query_params
    limit = parse_int(params, "limit") or MAX_LIMIT
    return Page(
        offset=parse_int(params, "offset") or 0,
        limit=min(limit, MAX_LIMIT),
        desc=bool(parse_bool(params, "desc")),
    )


def paginated(page: Page, total: int, items: list[dict[str, Any]]) -> Response:
    return data_response(
        {
            "total": total,
            "offset": page.offset,
            "limit": page.limit,
            "desc": page.desc,
            "count": len(items),
            "items": items,
        }
    )
