"""Failing with a reason: what a provider must do, and where the docs explain it."""

from __future__ import annotations

from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

import pytest

from unipay.errors import UnsupportedOperation

E = TypeVar("E", bound=BaseException)

# Where the docs explain what a failed check asks for.
CAPABILITIES = "docs/concepts.md#capabilities"
GUARANTEES = "docs/concepts.md#guarantees"
OPERATIONS = "docs/plugins/writing-a-provider.md#operations"
ERRORS = "docs/plugins/writing-a-provider.md#errors"
WEBHOOKS = "docs/plugins/writing-a-provider.md#webhooks"
TESTING = "docs/plugins/writing-a-provider.md#testing"


def expect(condition: object, must: str, where: str) -> None:
    """Fail unless ``condition``, saying what the provider must do and where the docs say why."""
    __tracebackhide__ = True  # the check that called it is where to look
    if not condition:
        pytest.fail(f"{must}\nSee {where}.")


class Caught(Generic[E]):
    """What `expect_raises` caught, once the block has ended."""

    value: E


@contextmanager
def expect_raises(kind: type[E], must: str, where: str) -> Iterator[Caught[E]]:
    """Like ``pytest.raises``, failing with ``must`` and ``where`` when something else happens."""
    __tracebackhide__ = True
    caught: Caught[E] = Caught()
    try:
        yield caught
    except kind as error:
        caught.value = error
        return
    except Exception as error:
        pytest.fail(f"{must}\nGot {type(error).__name__}: {error}\nSee {where}.")
    pytest.fail(f"{must}\nNothing was raised.\nSee {where}.")


@contextmanager
def expect_no_error(must: str, where: str) -> Iterator[None]:
    """Fail with ``must`` and ``where`` if the block raises."""
    __tracebackhide__ = True
    try:
        yield
    except Exception as error:
        pytest.fail(f"{must}\nGot {type(error).__name__}: {error}\nSee {where}.")


async def raises(call: Awaitable[object], kind: type[E], must: str, where: str) -> E:
    """Await ``call``, which must raise ``kind``: `expect_raises` for one awaited call."""
    __tracebackhide__ = True
    with expect_raises(kind, must, where) as caught:
        await call
    return caught.value


async def refused(call: Awaitable[object], must: str) -> UnsupportedOperation:
    """Await ``call``, which the gateway must refuse: it asks for what the capabilities do not
    declare."""
    __tracebackhide__ = True
    return await raises(call, UnsupportedOperation, must, CAPABILITIES)
