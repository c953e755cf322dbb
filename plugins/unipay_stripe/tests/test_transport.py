"""The sharded async pool: requests spread over small pools; the provider's async face uses it."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest
import respx

from unipay import AsyncGateway
from unipay_stripe import StripeProvider
from unipay_stripe.transport import CONNECTIONS_PER_SHARD, ShardedAsyncTransport


async def test_requests_go_round_robin_over_the_shards() -> None:
    served: Counter[int] = Counter()

    def shard(number: int) -> httpx.MockTransport:
        def answer(request: httpx.Request) -> httpx.Response:
            served[number] += 1
            return httpx.Response(200, json={"shard": number})

        return httpx.MockTransport(answer)

    transport = ShardedAsyncTransport([shard(n) for n in range(4)])
    async with httpx.AsyncClient(transport=transport) as client:
        await asyncio.gather(*(client.get("http://stripe.test/") for _ in range(40)))
    assert served == {0: 10, 1: 10, 2: 10, 3: 10}


@pytest.mark.parametrize(("total", "shards", "per_shard"), [(100, 10, 10), (25, 3, 8), (5, 1, 5)])
def test_pooled_splits_the_connections(total: int, shards: int, per_shard: int) -> None:
    transport = ShardedAsyncTransport.pooled(max_connections=total)
    assert len(transport.shards) == shards
    assert per_shard <= CONNECTIONS_PER_SHARD
    for pool in transport.shards:
        assert isinstance(pool, httpx.AsyncHTTPTransport)
        assert pool._pool._max_connections == per_shard


def test_no_shards_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one shard"):
        ShardedAsyncTransport([])


async def test_the_async_face_sends_through_the_sharded_transport() -> None:
    provider = StripeProvider(api_key="sk_test_transport", max_connections=20)
    assert len(provider._http.async_transport.shards) == 2
    seen: list[httpx.AsyncBaseTransport] = []
    original = ShardedAsyncTransport.handle_async_request

    async def spy(self: ShardedAsyncTransport, request: httpx.Request) -> httpx.Response:
        seen.append(self)
        return await original(self, request)

    intent = {
        "id": "pi_transport", "object": "payment_intent", "amount": 500, "currency": "usd",
        "status": "succeeded", "amount_received": 500, "amount_capturable": 0,
        "capture_method": "automatic", "created": 1_700_000_000, "metadata": {},
    }  # fmt: skip
    with respx.mock(assert_all_called=True) as router, pytest.MonkeyPatch.context() as patch:
        patch.setattr(ShardedAsyncTransport, "handle_async_request", spy)
        router.post("https://api.stripe.com/v1/payment_intents").respond(json=intent)
        async with AsyncGateway(providers=[provider], load_installed=False) as gateway:
            payment = await gateway.create_payment(provider="stripe", amount=500, currency="USD")
    assert payment.provider_payment_id == "pi_transport"
    assert seen == [provider._http.async_transport]
