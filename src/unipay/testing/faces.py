"""Run one test body against both faces: ``await face("create_payment", ...)``."""

from __future__ import annotations

import inspect
from typing import Any

from unipay.gateway import AsyncGateway, Gateway


class Face:
    """Calls a gateway the same way whichever face it is, so one test covers both."""

    def __init__(self, gateway: Gateway | AsyncGateway) -> None:
        self.gateway = gateway

    async def __call__(self, method: str, *args: Any, **kwargs: Any) -> Any:
        result = getattr(self.gateway, method)(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    def __repr__(self) -> str:
        return f"Face({type(self.gateway).__name__})"
