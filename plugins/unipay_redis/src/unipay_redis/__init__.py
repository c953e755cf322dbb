"""unipay-redis: idempotency keys in Redis or Redis Cluster, records in a SQL store.

Installed, it claims ``redis://``, ``rediss://``, ``redis+cluster://`` and ``rediss+cluster://``
store URLs through the ``unipay`` entry-point group, the path any third-party store takes::

    Gateway(store="redis://cache:6379/0?records=postgresql+psycopg://app@db/payments")

which is ``SplitStore(keys=RedisStore("redis://cache:6379/0"), records=SQLStore(...))``.
"""

from __future__ import annotations

from unipay import hookimpl
from unipay.errors import InvalidRequest
from unipay.storage import SplitStore, Store, open_store
from unipay_redis.store import RedisStore
from unipay_redis.url import SCHEMES, parse_url

__all__ = ["RedisStore", "open_url"]


def open_url(url: str) -> SplitStore:
    """The store a Redis URL with ``records=`` names: keys in Redis, records where it says.

    Records are not kept in Redis (they are the durable history, and Redis without ``fsync``
    on every write may lose the last ones it acknowledged), so the URL must say where they go.
    """
    parsed = parse_url(url)
    records_url = parsed.records
    if records_url is None:
        raise InvalidRequest(
            f"{parsed.shown} keeps idempotency keys only: add where payments and refunds live, "
            "e.g. ?records=postgresql+psycopg://user:pw@db/payments (or ?records=sqlite:///"
            "unipay.db, or ?records=memory:// to keep them in this process only).",
            param="store",
        )
    if records_url.partition("://")[0].lower() in SCHEMES:
        raise InvalidRequest(
            f"{parsed.shown}: records= must name a SQL database or memory://, not Redis.",
            param="store",
        )
    keys = RedisStore(_without_records(url))
    records = open_store(records_url)
    return SplitStore(keys=keys, records=records)


def _without_records(url: str) -> str:
    """``url`` less its ``records=`` option: the Redis part."""
    location, _, query = url.partition("#")[0].partition("?")
    kept = [item for item in query.split("&") if item and not item.startswith("records=")]
    return location + ("?" + "&".join(kept) if kept else "")


@hookimpl
def unipay_store_from_url(url: str) -> Store | None:
    """Redis URLs are ours; any other returns None for the next plugin or the SQL store."""
    if url.partition("://")[0].lower() not in SCHEMES:
        return None
    return open_url(url)
