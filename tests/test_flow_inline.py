"""The async face calls an effect that does no I/O directly, without a coroutine or a task: what
it returns or raises reaches the flow exactly as an awaited effect's would."""

from __future__ import annotations

import asyncio

import pytest

from unipay._flow import Flow, _native, arun, call, faces, no_io, run, shielded


class Inline:
    """A store-like object that says its methods do no I/O (as the memory store does)."""

    blocking = False

    def __init__(self) -> None:
        self.calls: list[str] = []

    def answer(self, value: int, *, plus: int = 0) -> int:
        self.calls.append("answer")
        return value + plus

    def fail(self) -> int:
        self.calls.append("fail")
        raise ValueError("no")

    def cancel(self) -> int:
        self.calls.append("cancel")
        raise asyncio.CancelledError

    def release(self) -> None:
        self.calls.append("release")


def _flow(store: Inline) -> Flow[tuple[int, str]]:
    value = yield from shielded(store.answer, 40, plus=2)
    try:
        yield from call(store.fail)
    except ValueError as exc:
        return value, str(exc)
    raise AssertionError("the error was not thrown into the flow")


def test_both_faces_see_the_same_results_and_errors() -> None:
    sync, asynchronous = Inline(), Inline()
    assert run(_flow(sync)) == (42, "no")
    assert asyncio.run(arun(_flow(asynchronous))) == (42, "no")
    assert sync.calls == asynchronous.calls == ["answer", "fail"]


def test_an_inline_effect_runs_in_the_callers_task() -> None:
    @no_io
    def where() -> asyncio.Task[object] | None:
        return asyncio.current_task()

    def flow() -> Flow[asyncio.Task[object] | None]:
        return (yield from call(where))

    async def main() -> bool:
        return await arun(flow()) is asyncio.current_task()

    assert asyncio.run(main())


def test_a_cancellation_raised_inline_is_a_cancellation() -> None:
    """The flow hears of it, cleans up, and the caller is then cancelled: as when an awaited
    effect is cancelled."""
    store = Inline()

    def flow() -> Flow[str]:
        try:
            yield from call(store.cancel)
        except asyncio.CancelledError:
            yield from call(store.release)
            return "cleaned up"
        return "not cancelled"

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(arun(flow()))
    assert store.calls == ["cancel", "release"]


class _Halves:
    """Both faces of one flow on one object, as SplitStore has them."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def _store(self, value: str) -> Flow[int]:
        return (yield from call(self._write, value))

    def _write(self, value: str) -> int:
        self.seen.append(value)
        return len(value)

    store, astore = faces(_store)


async def test_faces_give_one_flow_a_sync_and_an_async_method() -> None:
    halves = _Halves()
    assert halves.store("ab") == 2
    assert await halves.astore("abc") == 3
    assert halves.seen == ["ab", "abc"]
    # The async face is named where `call` looks for a native twin (``a<name>``).
    assert (_Halves.store.__name__, _Halves.astore.__name__) == ("store", "astore")
    assert _native(halves.store) == halves.astore
