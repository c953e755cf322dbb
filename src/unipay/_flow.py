"""One core, two faces: operations are written once as generators that yield effects.

A flow yields `Call` (invoke a provider or store method) and `Sleep`; it never does
I/O itself. `run` performs effects synchronously, `arun` asynchronously: awaiting the
target's ``a<method>`` when it has one, otherwise running a blocking method in a worker thread.
This is the sans-I/O pattern (as in h11 or hyper-h2) applied to a client: the payment logic exists
once, and neither face can drift from the other.

Every exception an effect raises, ``BaseException`` included, is thrown into the flow, so a flow's
cleanup (releasing an idempotency key) runs on every exit path. On the async face a cancelled
call's cleanup is shielded: the effects a flow yields after the cancellation run to completion
even if the task is cancelled again, and the cancellation is raised once the flow has finished.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Coroutine, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

if TYPE_CHECKING:
    import asyncio

# asyncio is imported inside the async functions, where a running loop means it is loaded
# already: importing it here cost a sixth of `import unipay`, paid by sync-only programs too.

T = TypeVar("T")
P = ParamSpec("P")
S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class Call:
    target: Any
    method: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


Effect = Call | Sleep
Flow = Generator[Effect, Any, T]


def _perform(effect: Effect) -> Any:
    if isinstance(effect, Sleep):
        time.sleep(effect.seconds)
        return None
    return getattr(effect.target, effect.method)(*effect.args, **(effect.kwargs or {}))


async def _aperform(effect: Effect) -> Any:
    import asyncio

    if isinstance(effect, Sleep):
        await asyncio.sleep(effect.seconds)
        return None
    kwargs = effect.kwargs or {}
    native = getattr(effect.target, "a" + effect.method, None)
    if native is not None:
        return await native(*effect.args, **kwargs)
    method = getattr(effect.target, effect.method)
    if getattr(effect.target, "blocking", True):
        return await asyncio.to_thread(method, *effect.args, **kwargs)
    return method(*effect.args, **kwargs)


async def _shielded(effect: Effect) -> Any:
    """Perform ``effect`` to its end even if the calling task is cancelled (again) meanwhile."""
    import asyncio

    task = asyncio.ensure_future(_aperform(effect))
    while True:
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                return task.result()


def run(flow: Flow[T]) -> T:
    """Drive a flow to its result, performing each effect in the calling thread."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            effect = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        value, error = None, None
        try:
            value = _perform(effect)
        except BaseException as exc:  # KeyboardInterrupt too: the flow releases what it holds
            error = exc


async def arun(flow: Flow[T]) -> T:
    """Drive a flow to its result on the running event loop."""
    import asyncio

    value: Any = None
    error: BaseException | None = None
    cancelled: asyncio.CancelledError | None = None
    while True:
        try:
            effect = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as stop:
            if cancelled is not None:
                raise cancelled from None  # the flow finished its cleanup: now be cancelled
            return stop.value  # type: ignore[no-any-return]
        value, error = None, None
        try:
            value = await (_aperform(effect) if cancelled is None else _shielded(effect))
        except asyncio.CancelledError as exc:
            cancelled = cancelled or exc
            error = exc
        except BaseException as exc:
            error = exc


def _present(method: Callable[..., Any], flow_method: Callable[..., Any]) -> None:
    """Show the face as a normal method: public name, and the flow's result as return type."""
    name = flow_method.__name__.lstrip("_")
    method.__name__ = method.__qualname__ = name
    signature = inspect.signature(flow_method)
    shown = str(signature.return_annotation).removeprefix("Flow[").removesuffix("]")
    method.__signature__ = signature.replace(return_annotation=shown)  # type: ignore[attr-defined]
    method.__annotations__ = {**flow_method.__annotations__, "return": shown}
    # Documentation tools (griffe) unwrap __wrapped__ and would show the flow's `-> Flow[T]`.
    del method.__wrapped__  # type: ignore[attr-defined]


def blocking_face(
    flow_method: Callable[Concatenate[S, P], Flow[T]],
) -> Callable[Concatenate[S, P], T]:
    """Turn a flow-returning method into a plain synchronous method with the same signature."""

    @functools.wraps(flow_method)
    def method(self: S, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return run(flow_method(self, *args, **kwargs))

    _present(method, flow_method)
    return method


def async_face(
    flow_method: Callable[Concatenate[S, P], Flow[T]],
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, T]]:
    """Turn a flow-returning method into a coroutine method with the same signature."""

    @functools.wraps(flow_method)
    async def method(self: S, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await arun(flow_method(self, *args, **kwargs))

    _present(method, flow_method)
    return method
