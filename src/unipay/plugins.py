"""Plugin discovery (entry-point group ``unipay``) and the provider registry built from it.

Installed plugins load unless the environment says otherwise, as in llm and datasette:

* ``UNIPAY_LOAD_PLUGINS=mock,acme`` loads only those installed plugins (empty: none);
* ``UNIPAY_DISABLE_PLUGINS=stripe`` loads all but those.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pluggy

from unipay import hookspecs
from unipay.errors import ProviderNotFound, UnipayError
from unipay.provider import Provider

if TYPE_CHECKING:
    # Imported where entry points are read: importlib.metadata (with email and zipfile) was a
    # fifth of `import unipay`, and a Gateway built with load_installed=False never needs it.
    from importlib.metadata import EntryPoint

ENTRY_POINT_GROUP = "unipay"
LOAD_ENV = "UNIPAY_LOAD_PLUGINS"
DISABLE_ENV = "UNIPAY_DISABLE_PLUGINS"


@dataclass(frozen=True)
class PluginInfo:
    name: str
    distribution: str | None
    version: str | None


@functools.cache
def _entry_points() -> tuple[EntryPoint, ...]:
    # Scanning installed metadata costs milliseconds; once per process is enough.
    from importlib.metadata import entry_points

    return tuple(entry_points(group=ENTRY_POINT_GROUP))


def _names(variable: str) -> set[str] | None:
    value = os.environ.get(variable)
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def installed_plugins() -> list[EntryPoint]:
    """The installed entry points that the environment allows."""
    allowed, disabled = _names(LOAD_ENV), _names(DISABLE_ENV) or set()
    return [
        ep
        for ep in _entry_points()
        if (allowed is None or ep.name in allowed) and ep.name not in disabled
    ]


#: Plugins every gateway made from now on registers, whatever its arguments (process-wide
#: instrumentation such as ``unipay.otel.instrument()``). Changed only through the functions below.
_GLOBAL_PLUGINS: list[object] = []


def register_global_plugin(plugin: object) -> None:
    """Register ``plugin`` with every gateway (and webhook app) created after this call, even
    one built with ``load_installed=False``. Registering it twice is a no-op."""
    if not any(known is plugin for known in _GLOBAL_PLUGINS):
        _GLOBAL_PLUGINS.append(plugin)


def unregister_global_plugin(plugin: object) -> None:
    """Undo :func:`register_global_plugin` for gateways created from now on."""
    _GLOBAL_PLUGINS[:] = [known for known in _GLOBAL_PLUGINS if known is not plugin]


def make_plugin_manager(
    plugins: Iterable[object] = (), *, load_installed: bool = True
) -> pluggy.PluginManager:
    """A fresh manager: installed plugins (unless told not to), the global ones, then
    ``plugins``."""
    pm = pluggy.PluginManager("unipay")
    pm.add_hookspecs(hookspecs)
    if load_installed:
        for ep in installed_plugins():
            if pm.get_plugin(ep.name) is None:
                pm.register(ep.load(), name=ep.name)
    for plugin in (*_GLOBAL_PLUGINS, *plugins):
        if not pm.is_registered(plugin):
            pm.register(plugin)
    # A misspelled hook (``unipay_regster_providers``) fails here, loudly.
    pm.check_pending()
    return pm


def plugin_infos(pm: pluggy.PluginManager) -> list[PluginInfo]:
    """Name, distribution and version of every plugin registered from an entry point."""
    infos = []
    for ep in installed_plugins():
        if pm.get_plugin(ep.name) is not None:
            dist = ep.dist
            infos.append(
                PluginInfo(ep.name, dist.name if dist else None, dist.version if dist else None)
            )
    return infos


ProviderFactory = Callable[[], Provider]


class ProviderRegistry:
    """Provider factories from the ``unipay_register_providers`` hook, built on first use."""

    def __init__(self, pm: pluggy.PluginManager, providers: Iterable[Provider] = ()) -> None:
        self._factories: dict[str, ProviderFactory] = {}
        self._instances: dict[str, Provider] = {}
        #: provider name -> name of the plugin that registered it (for ``unipay providers``).
        self.registered_by: dict[str, str] = {}
        self._lock = threading.Lock()
        # One implementation at a time, so that we know which plugin registers what.
        for impl in pm.hook.unipay_register_providers.get_hookimpls():
            impl.function(register=functools.partial(self._register, impl.plugin_name))
        for provider in providers:
            if not provider.name:
                raise UnipayError(f"{provider!r} has no name; set its `name` attribute")
            self._instances[provider.name] = provider
            self.registered_by[provider.name] = "Gateway(providers=...)"

    def _register(self, plugin: str, name: str, factory: ProviderFactory) -> None:
        if name in self._factories:
            raise UnipayError(
                f"Plugins {self.registered_by[name]!r} and {plugin!r} both register a provider "
                f"named {name!r}; disable one with {DISABLE_ENV}."
            )
        self._factories[name] = factory
        self.registered_by[name] = plugin

    def names(self) -> list[str]:
        return sorted(self._factories.keys() | self._instances.keys())

    def get(self, name: str) -> Provider:
        provider = self._instances.get(name)
        if provider is not None:
            return provider
        factory = self._factories.get(name)
        if factory is None:
            raise ProviderNotFound(name, self.names())
        with self._lock:
            if name not in self._instances:
                built = factory()  # may raise ProviderNotConfigured; retried on next use
                built.name = built.name or name
                self._instances[name] = built
            return self._instances[name]

    def built(self) -> list[Provider]:
        return list(self._instances.values())
