"""``@no_io``: what does no I/O runs on the event loop; everything else still leaves it."""

from __future__ import annotations

import threading

from unipay._flow import Flow, acall, arun, call, no_io


class Verifier:
    """A blocking object (the default) with one method that declares it does no I/O."""

    @no_io
    def check(self) -> int:
        return threading.get_ident()

    def read(self) -> int:
        return threading.get_ident()


@no_io
def parse() -> int:
    return threading.get_ident()


async def test_what_does_no_io_runs_on_the_loop_and_the_rest_in_a_worker_thread() -> None:
    loop_thread = threading.get_ident()
    verifier = Verifier()

    def flow() -> Flow[tuple[int, int]]:
        checked = yield from call(verifier.check)
        read = yield from call(verifier.read)
        return checked, read

    checked, read = await arun(flow())
    assert checked == loop_thread
    assert read != loop_thread
    assert await acall(parse) == loop_thread


def test_the_mark_keeps_the_signature() -> None:
    assert Verifier.check.__name__ == "check"
    assert Verifier().check() == threading.get_ident()
