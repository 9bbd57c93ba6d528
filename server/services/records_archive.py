"""The ZIP of a key-value store's records (GET /v2/key-value-stores/:id/records), streamed.

One file per record, named by its key, holding the record's value as a client would read it (a
record uploaded gzip-, deflate- or br-encoded is decoded; one that will not decode within the
archive's limit is put in as stored). Records are read a few at a time in their keys' binary order
and compressed off the event loop, so the archive is sent as it is made: memory holds one page of
records, never the archive. Before the first byte, the store's size is checked against the limits
(settings records_archive_max_bytes and records_archive_max_records): a refused archive is a clear
400, never a cut-off download.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import AsyncIterator

import anyio.to_thread
import brotli

from server.errors import ApiError
from server.settings import Settings
from server.storage.db import Database
from server.storage.key_value_stores import records_page_stmt, records_total_stmt
from server.storage.models import KeyValueRecord

# Records read per query: up to the record size limit each, so a page is a few of them.
PAGE_RECORDS = 16
# ZIP timestamps start in 1980.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


class ArchiveTooLarge(ApiError):
    status_code = 400
    error_type = "invalid-request"


class _Sink:
    """A write-only stream: zipfile writes into it (with data descriptors, as it cannot seek), and
    the generator takes out what has been written so far."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        out, self._parts = b"".join(self._parts), []
        return out


def _decoded(record: KeyValueRecord, limit: int) -> bytes:
    """The value without its Content-Encoding, or as stored when it does not decode within limit."""
    value = bytes(record.value)
    try:
        if record.content_encoding in ("gzip", "deflate"):
            wbits = 16 + zlib.MAX_WBITS if record.content_encoding == "gzip" else zlib.MAX_WBITS
            inflater = zlib.decompressobj(wbits)
            out = inflater.decompress(value, limit + 1)
            return out if len(out) <= limit and inflater.eof else value
        if record.content_encoding == "br":
            decompressor = brotli.Decompressor()
            out = bytes(decompressor.process(value, output_buffer_limit=limit + 1))
            return out if len(out) <= limit and decompressor.is_finished() else value
    except (zlib.error, brotli.error):
        return value
    return value


def _date_time(record: KeyValueRecord) -> tuple[int, int, int, int, int, int]:
    at = record.modified_at
    stamp = (at.year, at.month, at.day, at.hour, at.minute, at.second)
    return max(stamp, _ZIP_EPOCH)


def _write(archive: zipfile.ZipFile, records: list[KeyValueRecord], limit: int) -> None:
    """Decodes and compresses (in a worker thread: both may take a while for a large record)."""
    for record in records:
        info = zipfile.ZipInfo(record.key, _date_time(record))
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, _decoded(record, limit))


async def check_archive_size(db: Database, settings: Settings, store_id: str, prefix: str | None) -> None:
    """400 if the archive would break a limit (checked before the response starts)."""
    async with db.read() as session:
        count, size = (await session.execute(records_total_stmt(store_id, prefix))).one()
    if int(count) > settings.records_archive_max_records:
        raise ArchiveTooLarge(
            f"The archive would hold {count} records, more than the limit of "
            f"{settings.records_archive_max_records} (setting GREENROOM_RECORDS_ARCHIVE_MAX_RECORDS). "
            "Download a part of the store with the 'prefix' parameter."
        )
    if int(size) > settings.records_archive_max_bytes:
        raise ArchiveTooLarge(
            f"The archive would hold {size} bytes of records, more than the limit of "
            f"{settings.records_archive_max_bytes} (setting GREENROOM_RECORDS_ARCHIVE_MAX_BYTES). "
            "Download a part of the store with the 'prefix' parameter."
        )


async def archive_chunks(
    db: Database, settings: Settings, store_id: str, prefix: str | None
) -> AsyncIterator[bytes]:
    """The ZIP's bytes, a page of records at a time."""
    sink = _Sink()
    archive = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED)
    after: str | None = None
    while True:
        async with db.read() as session:
            stmt = records_page_stmt(db.dialect, store_id, after, prefix, PAGE_RECORDS)
            records = list((await session.execute(stmt)).scalars().all())
        if not records:
            break
        after = records[-1].key
        await anyio.to_thread.run_sync(_write, archive, records, settings.records_archive_max_bytes)
        yield sink.take()
        if len(records) < PAGE_RECORDS:
            break
    await anyio.to_thread.run_sync(archive.close)
    yield sink.take()
