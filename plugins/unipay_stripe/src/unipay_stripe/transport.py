"""The async connection pool: several small pools instead of one large one.

httpcore 1.0's pool re-examines every connection against every queued request each time a request
starts or ends, so its bookkeeping grows with connections x queued requests. With 1,000 concurrent
payments over one pool of 100 connections that bookkeeping, not Stripe nor unipay, used most of the
CPU (measured: 76 requests/s against a 50 ms server, against 1,004 requests/s for ten pools of ten;
see docs/performance.md). httpx offers no other pool, so requests are spread round-robin over
``shards`` independent httpx transports, each scanning only its own few connections.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import ssl
import weakref
from collections.abc import Sequence

import httpx
import stripe

#: Connections in one shard: small enough that a shard's scans stay cheap.
CONNECTIONS_PER_SHARD = 10


class ShardedAsyncTransport(httpx.AsyncBaseTransport):
    """Round-robins requests over several transports, each with its own small pool."""

    def __init__(
        self, shards: Sequence[httpx.AsyncBaseTransport], *, max_in_flight: int | None = None
    ) -> None:
        if not shards:
            raise ValueError("ShardedAsyncTransport needs at least one shard")
        self.shards = tuple(shards)
        self._next = itertools.cycle(self.shards)
        #: Requests beyond this wait here, in O(1), rather than in a shard's queue.
        self.max_in_flight = max_in_flight
        self._gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    @classmethod
    def pooled(
        cls, *, max_connections: int, verify: ssl.SSLContext | bool = True
    ) -> ShardedAsyncTransport:
        """``max_connections`` in all, in pools of about ``CONNECTIONS_PER_SHARD``."""
        count = max(1, math.ceil(max_connections / CONNECTIONS_PER_SHARD))
        per_shard = max(1, max_connections // count)
        limits = httpx.Limits(max_connections=per_shard, max_keepalive_connections=per_shard)
        shards = [httpx.AsyncHTTPTransport(limits=limits, verify=verify) for _ in range(count)]
        return cls(shards, max_in_flight=per_shard * count)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.max_in_flight is None:
            return await next(self._next).handle_async_request(request)
        # One gate per event loop: asyncio primitives belong to the loop that first waits on them.
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            gate = self._gates[loop] = asyncio.Semaphore(self.max_in_flight)
        async with gate:
            return await next(self._next).handle_async_request(request)

    async def aclose(self) -> None:
        for shard in self.shards:
            await shard.aclose()


class PooledHTTPXClient(stripe.HTTPXClient):
    """stripe's own HTTPXClient (sync and async through httpx), with the sharded async pool.

    stripe's client takes no transport or limits, so the async ``httpx.AsyncClient`` it builds is
    replaced by one over :class:`ShardedAsyncTransport`, with the same certificate check.
    """

    def __init__(self, *, timeout: float, max_connections: int) -> None:
        super().__init__(timeout=timeout, allow_sync_methods=True)
        verify = ssl.create_default_context(cafile=stripe.ca_bundle_path)
        self.async_transport = ShardedAsyncTransport.pooled(
            max_connections=max_connections, verify=verify
        )
        self._client_async = httpx.AsyncClient(transport=self.async_transport)
