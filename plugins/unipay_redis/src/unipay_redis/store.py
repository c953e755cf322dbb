"""Idempotency keys in Redis or Redis Cluster, with the SQL store's semantics.

Each key is one hash, ``<prefix>{<scope>:<key>}``: its fingerprint, the claimer's token, the
lease's end, and once completed the result. Every decision is one Lua script, which Redis runs
atomically (no other command runs in between on that shard), so of any number of concurrent
callers on any number of hosts exactly one takes a key; there is no read-then-write window.

Time is Redis's own (``redis.call('TIME')`` inside the script), so hosts whose clocks disagree,
or gateways configured with different lock timeouts, agree on whether a lease has run out: the
claimer writes its lease's end, by Redis's clock, with the claim. Retention is the key's own
expiry (``PEXPIREAT``, same clock), so Redis forgets old keys by itself and ``purge_expired``
has nothing to do.

The braces make ``<scope>:<key>`` the key's cluster hash tag: whatever Redis keys a record is
made of (one hash today) live in one slot, hence on one shard, and each script touches that slot
only. Payments and refunds are not kept here: pair this store with a record store,
``SplitStore(keys=RedisStore(...), records=SQLStore(...))``.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import queue
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias, TypeVar
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from redis.backoff import ExponentialBackoff
from redis.exceptions import (
    ConnectionError as RedisConnectionError,
)
from redis.exceptions import (
    NoScriptError,
    RedisClusterException,
    RedisError,
)
from redis.exceptions import (
    TimeoutError as RedisTimeoutError,
)
from redis.retry import Retry

from unipay.errors import StoreUnavailable
from unipay.storage.base import Claim, ClaimState, KeyRecord
from unipay_redis.url import ParsedURL, hide_secrets, options, parse_url

T = TypeVar("T")
SyncClient: TypeAlias = "redis.Redis | redis.cluster.RedisCluster"
AsyncClient: TypeAlias = "redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster"

#: Redis's clock in milliseconds, shared by the scripts. ``replicate_commands`` is needed before
#: a write that follows TIME on Redis < 5 and is a no-op after.
_NOW = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

#: KEYS[1] the record; ARGV fingerprint, token, lease ms, retention ms. Returns {state[, result]}.
#: An expired record is already gone (its PEXPIREAT passed). The caller's own token means a retry
#: of this very claim whose first reply was lost: it is this caller's, so say so.
CLAIM = (
    _NOW
    + """
local rec = redis.call('HMGET', KEYS[1], 'fingerprint', 'token', 'lease_until', 'result')
if rec[1] then
  if rec[2] == ARGV[2] then return {'claimed'} end
  if rec[1] ~= ARGV[1] then return {'mismatch'} end
  if rec[4] then return {'completed', rec[4]} end
  if tonumber(rec[3]) > now then return {'in_progress'} end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'fingerprint', ARGV[1], 'token', ARGV[2],
  'locked_at', now, 'lease_until', now + tonumber(ARGV[3]))
redis.call('PEXPIREAT', KEYS[1], now + tonumber(ARGV[4]))
return {'claimed'}
"""
)

#: KEYS[1]; ARGV token, result. Fenced: only the token that owns the key completes it.
COMPLETE = """
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'result', ARGV[2])
  redis.call('HDEL', KEYS[1], 'token')
  return 1
end
return 0
"""

#: KEYS[1]; ARGV token. Forgets an unfinished claim that the token still owns.
RELEASE = """
local rec = redis.call('HMGET', KEYS[1], 'token', 'result')
if rec[1] == ARGV[1] and not rec[2] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_STATES = {
    "claimed": ClaimState.CLAIMED,
    "completed": ClaimState.COMPLETED,
    "in_progress": ClaimState.IN_PROGRESS,
    "mismatch": ClaimState.MISMATCH,
}
_SHA = {script: hashlib.sha1(script.encode()).hexdigest() for script in (CLAIM, COMPLETE, RELEASE)}  # noqa: S324 - Redis names scripts by SHA-1


class RedisStore:
    """Idempotency keys in Redis (``redis://``, ``rediss://``) or Redis Cluster
    (``redis+cluster://``): a key store for :class:`unipay.storage.SplitStore`.

    ``RedisStore("redis://:password@host:6379/0")``. The sync methods use one thread-safe
    client; the ``a<method>`` twins use a ``redis.asyncio`` client per event loop, so the async
    gateway awaits Redis directly, without a worker thread.
    """

    #: The sync methods do network I/O (the async gateway uses the a<method> twins instead).
    blocking = True

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str | None = None,
        socket_timeout: float | None = None,
        retries: int | None = None,
        max_connections: int | None = None,
    ) -> None:
        """
        Args:
            url: ``redis://``, ``rediss://`` or ``redis+cluster://host:port[,host:port]``;
                redis-py's own options may follow as query parameters.
            prefix: what every Redis key of this store starts with (default ``unipay:``, or the
                URL's ``prefix=``), so several applications can share a Redis.
            socket_timeout: seconds to wait for Redis before a call fails (default 5).
            retries: retries of a command whose connection dropped or timed out (default 2).
                Each script is safe to repeat: a claim retried after its reply was lost finds
                its own token and is still this caller's.
            max_connections: connections per client, per node in a cluster (default 64).
                Callers beyond it wait for a free one (sync: up to ``socket_timeout``), so a
                burst of a thousand concurrent calls queues instead of failing.
        """
        self._url: ParsedURL = parse_url(url)
        if self._url.records is not None:
            from unipay.errors import InvalidRequest

            raise InvalidRequest(
                f"RedisStore keeps idempotency keys only, so {self._url.shown} cannot name "
                "records=: build SplitStore(keys=RedisStore(url), records=SQLStore(...)), or "
                "give the URL with records= to Gateway(store=...) or unipay.storage.open_store.",
                param="store",
            )
        self.options = options(
            self._url,
            prefix=prefix,
            socket_timeout=socket_timeout,
            retries=retries,
            max_connections=max_connections,
        )
        self.cluster = self._url.cluster
        self._client: SyncClient | None = None
        self._client_lock = threading.Lock()
        #: In-flight commands, at most one per connection: redis-py fails a command that finds
        #: every connection busy rather than waiting for one. One item per free place: a
        #: SimpleQueue's get and put are C calls, where threading.BoundedSemaphore (a Condition
        #: in Python) and a contextmanager cost 2 us of CPU per command (issue 18).
        self._slots: queue.SimpleQueue[None] = queue.SimpleQueue()
        for _ in range(self.options.max_connections):
            self._slots.put(None)
        self._aclients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[AsyncClient, asyncio.Semaphore]
        ] = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        return f"RedisStore({self._url.shown!r})"

    def key(self, scope: str, key: str) -> str:
        """The Redis key of ``(scope, key)``; the braces are its cluster hash tag."""
        return f"{self.options.prefix}{{{scope}:{key}}}"

    # --- the sync face ------------------------------------------------------------------------

    def claim(
        self, scope: str, key: str, fingerprint: str, *, lease: float, retention: float
    ) -> Claim:
        token = _token()
        args = (fingerprint, token, _ms(lease), _ms(retention))
        return _claim(self._script(CLAIM, self.key(scope, key), *args), token)

    def complete(self, scope: str, key: str, token: str, result: str) -> None:
        self._script(COMPLETE, self.key(scope, key), token, result)

    def release(self, scope: str, key: str, token: str) -> None:
        self._script(RELEASE, self.key(scope, key), token)

    def get_result(self, scope: str, key: str) -> str | None:
        client = self.client()
        self._take_slot()
        try:
            found = client.hget(self.key(scope, key), "result")
        except (RedisError, RedisClusterException) as exc:
            raise self._unavailable(exc) from exc
        finally:
            self._slots.put(None)
        return None if found is None else str(found)

    def purge_expired(self, *, batch_size: int = 1000) -> int:
        """0: every record carries its own expiry (``PEXPIREAT`` at the end of its retention),
        and Redis deletes expired keys itself, lazily when touched and in its background cycle.
        An expired record is invisible to every method from that millisecond on."""
        return 0

    def list_keys(
        self, scope: str, *, finished: bool | None = None, limit: int = 100
    ) -> list[KeyRecord]:
        """The scope's records, oldest claim first: a ``SCAN`` of the keyspace (every shard of
        a cluster) for the scope's keys, then their fields in one pipeline. It reads every key
        of the scope, so it is for an operator's page, not for a hot path."""
        client = self.client()
        prefix = f"{self.options.prefix}{{{scope}:"
        self._take_slot()
        try:
            names = [str(n) for n in client.scan_iter(match=_glob(prefix) + "*", count=1000)]
            now = _milliseconds(client.time())
            pipeline = client.pipeline(transaction=False)
            for name in names:
                pipeline.hmget(name, "locked_at", "lease_until", "result")
            fields = pipeline.execute() if names else []
        except (RedisError, RedisClusterException) as exc:
            raise self._unavailable(exc) from exc
        finally:
            self._slots.put(None)
        found = [
            KeyRecord(
                scope=scope,
                key=name[len(prefix) : -1],
                age=(now - float(locked_at)) / 1000,
                lease_left=(float(lease_until) - now) / 1000,
                finished=result is not None,
                result=result,
            )
            for name, (locked_at, lease_until, result) in zip(names, fields, strict=True)
            if locked_at is not None  # expired or released since the scan
            and (finished is None or finished is (result is not None))
        ]
        found.sort(key=lambda record: (-record.age, record.key))
        return found[:limit]

    def close(self) -> None:
        """Close the sync client and forget the async ones (an event loop's client is closed by
        ``aclose`` on that loop)."""
        with self._client_lock:
            client, self._client = self._client, None
        self._aclients.clear()
        if client is not None:
            client.close()

    def client(self) -> SyncClient:
        """The sync redis-py client (created on first use: a cluster client asks the cluster
        for its layout as it is built)."""
        client = self._client
        if client is not None:
            return client
        with self._client_lock:
            if self._client is None:
                self._client = self._new_client()
            return self._client

    # --- the async face -----------------------------------------------------------------------

    async def aclaim(
        self, scope: str, key: str, fingerprint: str, *, lease: float, retention: float
    ) -> Claim:
        token = _token()
        args = (fingerprint, token, _ms(lease), _ms(retention))
        return _claim(await self._ascript(CLAIM, self.key(scope, key), *args), token)

    async def acomplete(self, scope: str, key: str, token: str, result: str) -> None:
        await self._ascript(COMPLETE, self.key(scope, key), token, result)

    async def arelease(self, scope: str, key: str, token: str) -> None:
        await self._ascript(RELEASE, self.key(scope, key), token)

    async def aget_result(self, scope: str, key: str) -> str | None:
        client, slots = self._aclient_and_slots()
        async with slots:
            found = await self._aretried(lambda: client.hget(self.key(scope, key), "result"))
        return None if found is None else str(found)

    async def apurge_expired(self, *, batch_size: int = 1000) -> int:
        return self.purge_expired(batch_size=batch_size)

    async def aclose(self) -> None:
        """Close this event loop's async client (and the sync client, if one was made)."""
        found = self._aclients.pop(asyncio.get_running_loop(), None)
        try:
            if found is not None:
                await found[0].aclose()
        finally:
            self.close()

    def aclient(self) -> AsyncClient:
        """The ``redis.asyncio`` client of the running event loop (its connections belong to
        that loop, so each loop gets its own)."""
        return self._aclient_and_slots()[0]

    def _aclient_and_slots(self) -> tuple[AsyncClient, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        found = self._aclients.get(loop)
        if found is None:
            semaphore = asyncio.Semaphore(self.options.max_connections)
            found = self._aclients[loop] = (self._new_async_client(), semaphore)
        return found

    # --- machinery ----------------------------------------------------------------------------

    def _script(self, script: str, key: str, *args: str | int) -> Any:
        """Run ``script`` on ``key`` by its SHA-1, loading it where the server lacks it (a new
        server, a restarted one, a replica promoted by a failover)."""
        client = self.client()
        self._take_slot()
        try:
            try:
                return client.evalsha(_SHA[script], 1, key, *args)
            except NoScriptError:
                return client.eval(script, 1, key, *args)
        except (RedisError, RedisClusterException) as exc:
            raise self._unavailable(exc) from exc
        finally:
            self._slots.put(None)

    async def _ascript(self, script: str, key: str, *args: str | int) -> Any:
        client, slots = self._aclient_and_slots()

        async def run() -> Any:
            try:
                return await client.evalsha(_SHA[script], 1, key, *args)
            except NoScriptError:
                return await client.eval(script, 1, key, *args)

        async with slots:
            return await self._aretried(run)

    async def _aretried(self, command: Callable[[], Awaitable[T]]) -> T:
        """``command`` on the async client, once more if redis-py's connection was torn down
        under it (:func:`_torn_down`); Redis's errors become ``StoreUnavailable``."""
        for attempt in (1, 2):
            try:
                return await command()
            except (RedisError, RedisClusterException) as exc:
                raise self._unavailable(exc) from exc
            except (AttributeError, TypeError) as exc:
                if not _torn_down(exc):
                    raise
                if attempt == 2:
                    raise self._unavailable(exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _take_slot(self) -> None:
        """Take one of ``max_connections`` places for a command in flight, waiting up to
        ``socket_timeout``; the caller puts it back (``self._slots.put(None)``) in a finally."""
        timeout = self.options.socket_timeout
        try:
            self._slots.get(timeout=timeout)
        except queue.Empty:
            raise StoreUnavailable(
                f"All {self.options.max_connections} connections to the unipay Redis key store "
                f"{self._url.shown} stayed busy for {timeout:g} s. Raise "
                "RedisStore(max_connections=...) or give Redis more capacity."
            ) from None

    def _client_options(self) -> dict[str, Any]:
        timeout = self.options.socket_timeout
        return {
            "decode_responses": True,
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "max_connections": self.options.max_connections,
        }

    def _retry(self) -> Retry:
        backoff = ExponentialBackoff(cap=0.5, base=0.05)
        return Retry(backoff, self.options.retries)

    def _new_client(self) -> SyncClient:
        url, opts = self._url, self._client_options()
        try:
            if url.cluster:
                nodes = [
                    redis.cluster.ClusterNode(h, p)  # type: ignore[no-untyped-call]
                    for h, p in url.more_nodes
                ]
                return redis.cluster.RedisCluster.from_url(
                    url.client_url, startup_nodes=nodes or None, **opts
                )
            return redis.Redis.from_url(
                url.client_url,
                retry=self._retry(),
                retry_on_error=[RedisConnectionError, RedisTimeoutError],
                **opts,
            )
        except (RedisError, RedisClusterException) as exc:
            raise self._unavailable(exc) from exc

    def _new_async_client(self) -> AsyncClient:
        url, opts = self._url, self._client_options()
        if url.cluster:
            nodes = [redis.asyncio.cluster.ClusterNode(h, p) for h, p in url.more_nodes]
            return redis.asyncio.cluster.RedisCluster.from_url(
                url.client_url, startup_nodes=nodes or None, **opts
            )
        from redis.asyncio.retry import Retry as AsyncRetry

        return redis.asyncio.Redis.from_url(
            url.client_url,
            retry=AsyncRetry(ExponentialBackoff(cap=0.5, base=0.05), self.options.retries),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
            **opts,
        )

    def _unavailable(self, exc: Exception) -> StoreUnavailable:
        reason = hide_secrets((str(exc).strip().splitlines() or [""])[0])
        password = urlsplit(self._url.client_url).password
        if password:
            reason = reason.replace(password, "***").replace(unquote(password), "***")
        return StoreUnavailable(
            f"The unipay Redis key store {self._url.shown} failed ({type(exc).__name__}: "
            f"{reason}). Check that Redis is running and reachable there, and that the URL's "
            "password, database and TLS settings are right."
        )


def _torn_down(exc: BaseException) -> bool:
    """Is ``exc`` redis-py's asyncio connection failing because its stream was torn down under
    it, before the command was written? It leaks as an AttributeError or TypeError instead of
    a ConnectionError, past every retry (redis/redis-py#4287: a peer reset on CPython 3.12 and
    3.13). A connection disconnected while it connects does the same on redis-py 8: 5 of 75
    runs of the 64-task cluster claim test, none of 45 on 5.0.1 and 7.0.1. Nothing was sent,
    so the command can run again."""
    trace = exc.__traceback__
    if trace is None:
        return False
    while trace.tb_next is not None:
        trace = trace.tb_next
    where = trace.tb_frame.f_code.co_filename
    return any(f"{os.sep}{part}{os.sep}" in where for part in ("redis", "asyncio"))


def _token() -> str:
    """A claim's fencing token: 128 random bits as 32 hex characters, like the ``uuid4().hex``
    it replaces (same length, from the same ``os.urandom``), without building a UUID object
    (1.5 us of CPU per claim)."""
    return os.urandom(16).hex()


def _ms(seconds: float) -> int:
    """Whole milliseconds, rounded up: a lease or retention is never shorter than asked."""
    return max(1, math.ceil(seconds * 1000))


def _claim(reply: list[str], token: str) -> Claim:
    state = _STATES[reply[0]]
    if state is ClaimState.CLAIMED:
        return Claim(state, token=token)
    if state is ClaimState.COMPLETED:
        return Claim(state, result=reply[1])
    return Claim(state)


def _glob(text: str) -> str:
    """``text`` matched literally by a Redis ``MATCH`` pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _milliseconds(reply: Any) -> float:
    """Redis's ``TIME`` in milliseconds (a cluster answers per node: any one will do)."""
    if isinstance(reply, dict):
        reply = next(iter(reply.values()))
    seconds, micros = reply
    return int(seconds) * 1000 + int(micros) / 1000
