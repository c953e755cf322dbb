"""One core, two faces: operations are written once as generators that yield effects.

A flow yields `Call` (invoke a store, provider or hook) and `Sleep`; it never does I/O itself.
Flows build their calls with `call`, so mypy checks each one against the called function's
signature and result type. `run` performs effects synchronously, `arun` asynchronously: awaiting
the target's ``a<method>`` when it has one, calling one that does no I/O (`no_io`) on the loop,
otherwise running a blocking method in a worker thread.
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
from collections.abc import Awaitable, Callable, Coroutine, Generator
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeGuard, TypeVar

# asyncio is imported inside the async functions, where a running loop means it is loaded
# already: importing it here cost a sixth of `import unipay`, paid by sync-only programs too.

T = TypeVar("T")
P = ParamSpec("P")
S = TypeVar("S")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(slots=True)
class Call:
    """Call ``function(*args, **kwargs)``. Build it with [`call`][unipay._flow.call] (or
    `call_either`, `shielded`), whose signature mypy checks against the function's own.

    Not frozen, though nothing changes one once yielded: a frozen dataclass sets each field
    through ``object.__setattr__``, 0.6 us per effect against 0.2 (benchmarks.gateway_overhead)."""

    function: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] | None = None
    #: What the async face awaits instead; None looks for ``a<name>`` beside a bound method,
    #: then runs a blocking ``function`` in a worker thread.
    afunction: Callable[..., Awaitable[Any]] | None = None
    #: Run to its end even if the async caller is cancelled meanwhile; the flow then learns of
    #: the cancellation at its next effect. For effects whose outcome the flow must know to clean
    #: up after itself: an idempotency claim taken in a worker thread happens whether or not its
    #: caller is still waiting, and only the flow can release it.
    shielded: bool = False


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


Effect = Call | Sleep
Flow = Generator[Effect, Any, T]


def call(function: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Flow[T]:
    """``result = yield from call(store.claim, ...)``: one typed effect.

    The sync face calls ``function``; the async face awaits ``a<name>`` when ``function`` is a
    method of an object that has one (``store.aclaim``), calls it on the loop when it does no I/O
    (marked `no_io`, or its object says ``blocking = False``), and otherwise runs it in a worker
    thread."""
    result: T = yield Call(function, args, kwargs)
    return result


def call_either(
    function: Callable[P, T],
    afunction: Callable[P, Awaitable[T]],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> Flow[T]:
    """Like `call`, naming the async twin explicitly (an SDK's ``create_async``)."""
    result: T = yield Call(function, args, kwargs, afunction)
    return result


def shielded(function: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Flow[T]:
    """Like `call`, run to its end even if the async caller is cancelled (see ``Call``)."""
    result: T = yield Call(function, args, kwargs, shielded=True)
    return result


def hook(caller: Any, /, **kwargs: Any) -> Flow[list[Any]]:
    """Call a pluggy hook as an effect: nothing at all without implementations, and on the async
    face in a worker thread, because an implementation may block (a database write)."""
    if not caller.get_hookimpls():
        return []
    results: list[Any] = yield Call(caller, (), kwargs)
    return results


def no_io(function: F) -> F:
    """Declare that ``function`` does no I/O: CPU work only (checking a signature, parsing a
    payload), quick and never waiting on anything. The async face then calls it on the event loop
    instead of in a worker thread, where the hop costs more than the work and queues behind the
    pool (issue 19: Stripe's webhook verification, inline, gave 1.21x the deliveries per second
    and a fifth of the p99). A method of an object that says ``blocking = False`` needs no mark:
    the object says it for all of its methods. An ``a<name>`` twin beside the method still wins.

    ``@no_io`` on a provider's ``verify_webhook`` is the common use::

        @no_io
        def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent: ...
    """
    function.__unipay_no_io__ = True  # type: ignore[attr-defined]
    return function


def _native(function: Callable[..., Any]) -> Callable[..., Awaitable[Any]] | None:
    """The ``a<name>`` twin beside a bound method, if its object has one."""
    owner = getattr(function, "__self__", None)
    if owner is None:
        return None
    native: Callable[..., Awaitable[Any]] | None = getattr(owner, "a" + function.__name__, None)
    return native


def _does_no_io(function: Callable[..., Any]) -> bool:
    """Marked `no_io`, or a method of an object that says ``blocking = False``."""
    # The mark is read off the plain function: a bound method that lacks an attribute raises
    # (and catches) an AttributeError, about 0.4 us per effect.
    if getattr(getattr(function, "__func__", function), "__unipay_no_io__", False):
        return True
    owner = getattr(function, "__self__", None)
    return owner is not None and not getattr(owner, "blocking", True)


def _runs_inline(effect: Effect) -> TypeGuard[Call]:
    """Does the async face perform ``effect`` by a plain call on the loop (it does no I/O and
    has no ``a<name>`` twin)? Then nothing can interrupt it midway: `arun` calls it directly,
    without a coroutine, a task or a thread (the memory store's claim and completion)."""
    if isinstance(effect, Sleep) or effect.afunction is not None:
        return False
    # The mark first: it settles most effects (a blocking store's, a hook's) on its own.
    return _does_no_io(effect.function) and _native(effect.function) is None


async def _aperform(effect: Effect) -> Any:
    import asyncio

    if isinstance(effect, Sleep):
        await asyncio.sleep(effect.seconds)
        return None
    kwargs = effect.kwargs or {}
    if effect.afunction is not None:
        return await effect.afunction(*effect.args, **kwargs)
    function = effect.function
    native = _native(function)
    if native is not None:
        return await native(*effect.args, **kwargs)
    if _does_no_io(function):
        return function(*effect.args, **kwargs)
    return await asyncio.to_thread(function, *effect.args, **kwargs)


async def _to_the_end(effect: Effect) -> tuple[Any, BaseException | None]:
    """Perform ``effect`` to its end even if the calling task is cancelled (again) meanwhile:
    its task and the cancellation that arrived meanwhile, if one did."""
    import asyncio

    task = asyncio.ensure_future(_aperform(effect))
    interrupted: BaseException | None = None
    while not task.done():
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError as exc:
            interrupted = exc
    return task, interrupted


def run(flow: Flow[T]) -> T:
    """Drive a flow to its result, performing each effect in the calling thread."""
    send, throw = flow.send, flow.throw
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            effect = throw(error) if error is not None else send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        error = None
        try:
            if isinstance(effect, Sleep):
                time.sleep(effect.seconds)
                value = None
            else:
                value = effect.function(*effect.args, **(effect.kwargs or {}))
        except BaseException as exc:  # KeyboardInterrupt too: the flow releases what it holds
            value, error = None, exc


async def arun(flow: Flow[T]) -> T:
    """Drive a flow to its result on the running event loop."""
    import asyncio

    send, throw = flow.send, flow.throw
    value: Any = None
    error: BaseException | None = None
    #: The cancellation the flow has been told of: what it yields from then on is cleanup.
    cancelled: BaseException | None = None
    #: A cancellation that arrived during a shielded effect, for the flow's next effect.
    pending: BaseException | None = None
    while True:
        try:
            effect = throw(error) if error is not None else send(value)
        except StopIteration as stop:
            told = cancelled if cancelled is not None else pending
            if told is not None:
                raise told from None  # the flow's cleanup is done: now be cancelled
            return stop.value  # type: ignore[no-any-return]
        value, error = None, None
        if pending is not None:  # the flow hears of it here, instead of this effect running
            error = cancelled = pending
            pending = None
            continue
        if _runs_inline(effect):
            # A plain call: no coroutine to await, and nothing interrupts it, so it needs no
            # task even when shielded (the task cost a fifth of an async create over the memory
            # store, benchmarks.gateway_overhead).
            try:
                value = effect.function(*effect.args, **(effect.kwargs or {}))
            except asyncio.CancelledError as exc:
                cancelled = error = exc
            except BaseException as exc:
                error = exc
            continue
        if cancelled is not None or (isinstance(effect, Call) and effect.shielded):
            # A task of its own, so that it runs to its end whatever happens to this one.
            task, interrupted = await _to_the_end(effect)
            if interrupted is not None and cancelled is None:
                pending = interrupted
            try:
                value = task.result()
            except BaseException as exc:
                error = exc
            continue
        try:
            value = await _aperform(effect)
        except asyncio.CancelledError as exc:
            cancelled = error = exc
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


def faces(
    flow_method: Callable[Concatenate[S, P], Flow[T]],
) -> tuple[Callable[Concatenate[S, P], T], Callable[Concatenate[S, P], Coroutine[Any, Any, T]]]:
    """Both faces of one flow method, for a class that offers both on one object (a store):
    ``claim, aclaim = faces(_claim)``. The async one is named ``a<name>``, where `call` looks
    for it."""
    blocking, asynchronous = blocking_face(flow_method), async_face(flow_method)
    asynchronous.__name__ = asynchronous.__qualname__ = "a" + blocking.__name__
    return blocking, asynchronous


async def acall(function: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Outside a flow: call ``function`` the way the async face performs a `call` effect."""
    result: T = await _aperform(Call(function, args, kwargs))
    return result
