"""What datasets, key-value stores and request queues share: the list of a user's storages,
get-or-create by name, rename, and the parameters and body those take. Each kind says how its rows are
shaped, and serves these as its own handlers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Row, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from server.api.auth import authenticate
from server.api.body import read_json_object
from server.api.pagination import page_params, paginated
from server.api.params import parse_bool
from server.errors import InvalidInput, NameNotUnique, NotFound
from server.lifespan import AppState, state_of
from server.responses import data_response
from server.services.validation import check_storage_name
from server.storage.ids import utcnow
from server.storage.models import Dataset, KeyValueStore, RequestQueue, User

GENERAL_ACCESS = ("ANYONE_WITH_ID_CAN_READ", "ANYONE_WITH_NAME_CAN_READ", "FOLLOW_USER_SETTING", "RESTRICTED")

M = TypeVar("M", Dataset, KeyValueStore, RequestQueue)


@dataclass(frozen=True)
class StorageKind(Generic[M]):
    model: type[M]
    what: str  # in messages: "Dataset", "Key-value store"
    collection: str  # its path under /v2
    # Rows to their JSON, read in the session they came from (a store's size is a query of its own).
    shape: Callable[[AsyncSession, Sequence[M], User, str], Awaitable[list[dict[str, Any]]]]
    # Apify's schema for this kind's list items makes `name` a string (DatasetListItem,
    # RequestQueueShort; the clients validate it): an unnamed one is listed with its id as name.
    listed_name_required: bool = False

    async def one(self, session: AsyncSession, row: M, user: User, base: str) -> dict[str, Any]:
        return (await self.shape(session, [row], user, base))[0]

    # The handlers every kind serves the same way (its module exposes them as its own).
    async def list_(self, request: Request) -> Response:
        return await _list(request, self)

    async def get_or_create(self, request: Request) -> Response:
        return await _get_or_create(request, self)

    async def update_for(
        self, request: Request, state: AppState, user: User, storage: M | Row[Any]
    ) -> Response:
        return await _rename(request, state, user, storage, self)


def _shared_only(params: QueryParams) -> bool:
    """ownership=sharedWithMe: nothing is shared between users here, so the list is empty."""
    ownership = params.get("ownership")
    if ownership not in (None, "", "ownedByMe", "sharedWithMe"):
        raise InvalidInput("Parameter 'ownership' must be ownedByMe or sharedWithMe.")
    return ownership == "sharedWithMe"


async def _list(request: Request, kind: StorageKind[M]) -> Response:
    """GET /v2/<collection>: named ones only unless unnamed=1 (as Apify), oldest first unless desc=1."""
    state = state_of(request)
    page = page_params(request)
    unnamed = bool(parse_bool(request.query_params, "unnamed"))
    shared = _shared_only(request.query_params)
    async with state.db.read() as session:
        user = await authenticate(request, session)
        if shared:
            return paginated(page, 0, [])
        owned = select(kind.model).where(kind.model.user_id == user.id)
        if not unnamed:
            owned = owned.where(kind.model.name.is_not(None))
        total = (await session.execute(select(func.count()).select_from(owned.subquery()))).scalar_one()
        rows = (await session.execute(page.apply(owned, kind.model.created_at))).scalars().all()
        items = await kind.shape(session, rows, user, state.settings.api_base_url)
    if kind.listed_name_required:
        items = [item if item["name"] is not None else item | {"name": item["id"]} for item in items]
    return paginated(page, total, items)


async def _named(session: AsyncSession, kind: StorageKind[M], user: User, name: str) -> M | None:
    stmt = select(kind.model).where(kind.model.user_id == user.id, kind.model.name == name)
    return (await session.execute(stmt)).scalar_one_or_none()


async def _get_or_create(request: Request, kind: StorageKind[M]) -> Response:
    """POST ?name=: 201 with a new storage, 200 with the existing one of that name."""
    state = state_of(request)
    user = await authenticate(request)
    name = request.query_params.get("name") or None
    if name is not None:
        check_storage_name(name, kind.what)
    base = state.settings.api_base_url
    try:
        async with state.db.transaction() as session:
            existing = None if name is None else await _named(session, kind, user, name)
            if existing is not None:
                return data_response(await kind.one(session, existing, user, base))
            row = kind.model(user_id=user.id, name=name)
            session.add(row)
            await session.flush()
            created = await kind.one(session, row, user, base)
    except IntegrityError:
        # A concurrent create of the same name won (its transaction rolled ours back): answer with it.
        async with state.db.read() as session:
            existing = None if name is None else await _named(session, kind, user, name)
            found = None if existing is None else await kind.one(session, existing, user, base)
        if found is None:
            raise
        return data_response(found)
    return data_response(created, 201, f"{base}/v2/{kind.collection}/{row.id}")


def _check_update(body: dict[str, object], what: str) -> tuple[bool, str | None]:
    """PUT {name?, generalAccess?}: whether to rename, and to what (null makes it unnamed)."""
    access = body.get("generalAccess")
    if access is not None and access not in GENERAL_ACCESS:
        raise InvalidInput(f"'generalAccess' must be one of {', '.join(GENERAL_ACCESS)}.")
    if "name" not in body:
        return False, None
    name = body["name"]
    return True, None if name is None else check_storage_name(name, what)


async def _rename(
    request: Request, state: AppState, user: User, storage: M | Row[Any], kind: StorageKind[M]
) -> Response:
    """PUT: rename (409 if the user has another storage of that name); generalAccess is accepted."""
    body = await read_json_object(request, state.settings.max_body_bytes)
    wanted, name = _check_update(body, kind.what)
    async with state.db.transaction() as session:
        row = await session.get(kind.model, storage.id)
        if row is None:
            raise NotFound(f"{kind.what} was not found")
        if wanted and name != row.name:
            if name is not None and await _named(session, kind, user, name) is not None:
                raise NameNotUnique("name-not-unique")
            row.name = name
            row.modified_at = utcnow()
            try:
                await session.flush()
            except IntegrityError as exc:  # a concurrent rename to the same name won
                raise NameNotUnique("name-not-unique") from exc
        return data_response(await kind.one(session, row, user, state.settings.api_base_url))
