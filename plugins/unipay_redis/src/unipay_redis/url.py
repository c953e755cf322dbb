"""Redis URLs as unipay reads them, and the same URLs with their secrets hidden.

``redis://[[user]:password@]host[:port][/db][?option=value&...]``, ``rediss://`` for TLS, and
``redis+cluster://host:port[,host:port...]`` (``rediss+cluster://``) for Redis Cluster, whose
nodes are only the first ones asked for the cluster's layout. unipay's own options:

* ``prefix=``: what every key this store writes starts with (default ``unipay:``).
* ``records=``: where payments and refunds live, for the URL form (``Gateway(store=...)``):
  ``postgresql+psycopg://...``, ``sqlite:///...`` or ``memory://``. Percent-encode it only if it
  holds ``&`` or ``#``.

Every other option is redis-py's (``socket_timeout=``, ``ssl_cert_reqs=``, ...).
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import unquote

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from unipay.errors import InvalidRequest

SCHEMES = ("redis", "rediss", "redis+cluster", "rediss+cluster")
_SECRET_IN_NETLOC = re.compile(r"(//[^/@:?#]*:)[^@/?#]*@")
_SECRET_IN_QUERY = re.compile(r"((?:^|[?&])password=)[^&#]*", re.IGNORECASE)


def hide_secrets(text: str) -> str:
    """``text`` with every URL password in it replaced by ``***`` (also the records URL's)."""
    return _SECRET_IN_QUERY.sub(r"\1***", _SECRET_IN_NETLOC.sub(r"\1***@", text))


class RedisOptions(BaseModel):
    """unipay's options for a Redis key store, validated where they enter."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Braces would change the cluster hash tag that keeps one key's record on one shard.
    prefix: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^{}\s]+$")] = "unipay:"
    #: Seconds to wait for Redis (connect and each reply) before the call fails.
    socket_timeout: Annotated[float, Field(gt=0, le=300)] = 5.0
    #: Retries of a command whose connection dropped or timed out (every script is safe to
    #: repeat); 0 fails at once.
    retries: Annotated[int, Field(ge=0, le=10)] = 2
    #: Connections per client (per node in a cluster); callers beyond it queue for one.
    max_connections: Annotated[int, Field(ge=1, le=10_000)] = 64


class ParsedURL(BaseModel):
    """A Redis URL split into what redis-py gets and what unipay keeps for itself."""

    model_config = ConfigDict(frozen=True)

    #: For redis-py: scheme ``redis``/``rediss``, the first node, redis-py's own options.
    client_url: str
    #: Cluster only: the other startup nodes (host, port).
    more_nodes: tuple[tuple[str, int], ...] = ()
    cluster: bool
    prefix: str | None = None
    records: str | None = None
    #: The URL as given, passwords hidden: what reprs and errors show.
    shown: str


def parse_url(url: str) -> ParsedURL:
    """Split ``url``; an unusable one raises ``InvalidRequest`` saying what to write instead."""
    shown = hide_secrets(url)
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in SCHEMES:
        raise _invalid(shown, f"the scheme must be one of {', '.join(s + '://' for s in SCHEMES)}")
    rest, _, _fragment = rest.partition("#")
    location, _, query = rest.partition("?")
    netloc, slash, path = location.partition("/")
    ours: dict[str, str] = {}
    theirs: list[str] = []
    for item in filter(None, query.split("&")):
        name, _, value = item.partition("=")
        if name in ("prefix", "records"):
            ours[name] = unquote(value)  # not unquote_plus: "postgresql+psycopg" keeps its "+"
        else:
            theirs.append(item)
    credentials, at, hosts = netloc.rpartition("@")
    nodes = hosts.split(",")
    if not all(nodes):
        raise _invalid(shown, "name a host (redis://host:6379/0)")
    cluster = scheme.endswith("+cluster")
    if cluster and path not in ("", "0"):
        raise _invalid(shown, "Redis Cluster has database 0 only: drop the /<db> from the URL")
    if not cluster and len(nodes) > 1:
        raise _invalid(shown, "several hosts are for redis+cluster:// URLs; name one host")
    more: list[tuple[str, int]] = []
    for node in nodes[1:]:
        host, _, port = node.rpartition(":")
        if not host or not port.isdigit():
            raise _invalid(shown, "write each cluster node as host:port, separated by commas")
        more.append((host.strip("[]"), int(port)))
    base = "rediss" if scheme.startswith("rediss") else "redis"
    client_url = f"{base}://{credentials}{at}{nodes[0]}{slash}{path}"
    if theirs:
        client_url += "?" + "&".join(theirs)
    return ParsedURL(
        client_url=client_url,
        more_nodes=tuple(more),
        cluster=cluster,
        prefix=ours.get("prefix"),
        records=ours.get("records") or None,
        shown=shown,
    )


def options(url: ParsedURL, **given: object) -> RedisOptions:
    """The store's options: keyword arguments first, then the URL's ``prefix=``."""
    values = {name: value for name, value in given.items() if value is not None}
    if url.prefix is not None:
        values.setdefault("prefix", url.prefix)
    try:
        return RedisOptions.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False)
        )
        raise InvalidRequest(
            f"RedisStore options for {url.shown} are not usable ({problems}). A prefix is 1-64 "
            "characters without braces or spaces; socket_timeout is 0-300 s; retries 0-10; "
            "max_connections 1-10000.",
            param="store",
        ) from None


def _invalid(shown: str, fix: str) -> InvalidRequest:
    return InvalidRequest(f"Redis store URL {shown} not understood: {fix}.", param="store")
