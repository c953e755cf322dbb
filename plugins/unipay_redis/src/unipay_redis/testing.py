"""Throwaway Redis servers and clusters for tests: private processes on free loopback ports.

Fault tests restart, kill and fail over servers; they must never touch a Redis that others use.
:func:`start_server` and :func:`start_cluster` start ``redis-server`` processes of their own in a
directory you give (a tmp dir), without persistence unless asked, and stop them when closed.
``redis-server`` and ``redis-cli`` must be on ``PATH`` (Debian: ``apt-get install
redis-server``).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import redis

from unipay_redis.url import hide_secrets

#: Cluster nodes declare a peer failed after this many milliseconds without an answer.
NODE_TIMEOUT_MS = 1000


def require_binaries() -> str | None:
    """None when ``redis-server`` and ``redis-cli`` are installed, else what to install."""
    missing = [name for name in ("redis-server", "redis-cli") if shutil.which(name) is None]
    if missing:
        return f"{' and '.join(missing)} not found: apt-get install -y redis-server"
    return None


def free_port(*, with_bus: bool = False) -> int:
    """A loopback port nobody listens on (and, ``with_bus``, port + 10000 too, which a cluster
    node takes for its bus)."""
    for _ in range(200):
        port = random.randint(20000, 29999) if with_bus else _any_port()
        if _is_free(port) and (not with_bus or _is_free(port + 10000)):
            return port
    raise RuntimeError("no free loopback port found")


def _any_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class RedisServer:
    """One private ``redis-server``. ``persistence`` is extra configuration such as
    ``["--appendonly", "yes", "--appendfsync", "always"]``; without it nothing is saved."""

    def __init__(
        self,
        directory: Path,
        *,
        port: int | None = None,
        persistence: Sequence[str] = (),
        extra: Sequence[str] = (),
    ) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port(with_bus=bool(extra))
        self.persistence = list(persistence)
        self.extra = list(extra)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True, socket_timeout=5)

    def start(self) -> RedisServer:
        # No persistence unless asked: `--save ""` turns off RDB snapshots as well.
        saving = self.persistence or ["--save", "", "--appendonly", "no"]
        command = [
            *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
            *("--dir", str(self.directory), "--logfile", "redis.log", "--daemonize", "no"),
            *("--protected-mode", "no", "--io-threads", "1"),
            *saving,
            *self.extra,
        ]
        self.process = subprocess.Popen(  # noqa: S603 - our own command line
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                log = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server on port {self.port} exited:\n{log}")
            try:
                with contextlib.closing(self.client()) as client:
                    if client.ping():
                        return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: the process dies at once, without saving anything on the way out."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def restart(self) -> None:
        """Kill and start again on the same port and directory (and so the same files)."""
        self.kill()
        self.start()

    def stop(self) -> None:
        self.kill()


class LocalCluster:
    """A Redis Cluster of ``primaries`` primaries with ``replicas`` replicas each, on loopback."""

    def __init__(self, directory: Path, *, primaries: int = 3, replicas: int = 1) -> None:
        self.servers = [
            RedisServer(
                directory / f"node{i}",
                extra=[
                    *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
                    *("--cluster-node-timeout", str(NODE_TIMEOUT_MS)),
                    # A replica may be promoted however long it has been cut off from its primary.
                    *("--cluster-replica-validity-factor", "0"),
                ],
            )
            for i in range(primaries * (1 + replicas))
        ]
        self.replicas = replicas

    @property
    def url(self) -> str:
        """``redis+cluster://`` with every node as a startup node."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{s.port}" for s in self.servers)

    def start(self) -> LocalCluster:
        try:
            for server in self.servers:
                server.start()
            nodes = [f"127.0.0.1:{s.port}" for s in self.servers]
            subprocess.run(  # noqa: S603 - our own command line
                [
                    *("redis-cli", "--cluster", "create", *nodes),
                    *("--cluster-replicas", str(self.replicas), "--cluster-yes"),
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def roles(self) -> dict[int, str]:
        """Each live node's port and role ("master" or "slave"), as the node itself says."""
        found: dict[int, str] = {}
        for server in self.servers:
            if server.process is None:
                continue
            with contextlib.closing(server.client()) as client:
                found[server.port] = str(client.info("replication")["role"])
        return found

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Until every live node reports all 16384 slots served and each primary's replicas
        attached and in sync."""
        deadline = time.monotonic() + timeout
        while True:
            problem = self._problem()
            if problem is None:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster did not become healthy: {problem}")
            time.sleep(0.05)

    def _problem(self) -> str | None:
        try:
            for server in self.servers:
                if server.process is None:
                    continue
                with contextlib.closing(server.client()) as client:
                    info = client.cluster("info")
                    if (
                        info.get("cluster_state") != "ok"
                        or int(info.get("cluster_slots_ok", 0)) != 16384
                    ):
                        return f"node {server.port}: {info.get('cluster_state')}"
                    replication = client.info("replication")
                    if replication["role"] == "slave" and (
                        replication.get("master_link_status") != "up"
                    ):
                        return f"replica {server.port} not linked"
                    if replication["role"] == "master" and self.replicas:
                        attached = int(replication.get("connected_slaves", 0))
                        if attached < self._live_replicas_of(server.port):
                            return f"primary {server.port}: {attached} replicas attached"
        except redis.RedisError as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def _live_replicas_of(self, port: int) -> int:
        count = 0
        for server in self.servers:
            if server.process is None or server.port == port:
                continue
            with contextlib.closing(server.client()) as client:
                replication = client.info("replication")
                if replication["role"] == "slave" and int(replication["master_port"]) == port:
                    count += 1
        return count

    def primary_of(self, key: str) -> RedisServer:
        """The server that serves ``key``'s slot now, as a live node sees the cluster (a node's
        view lags a failover by up to a node timeout or two)."""
        live = next(server for server in self.servers if server.process is not None)
        with contextlib.closing(live.client()) as client:
            slot = int(client.cluster("keyslot", key))
            layout = client.execute_command("CLUSTER SLOTS")  # type: ignore[no-untyped-call]
            for start, end, primary, *_ in layout:
                if int(start) <= slot <= int(end):
                    port = int(primary[1])
                    return next(s for s in self.servers if s.port == port)
        raise RuntimeError(f"no node serves slot {slot}")

    def describe(self) -> str:
        """Every live node's own view of the cluster (``CLUSTER NODES``), for a failure's
        message: which node it thinks is failed, promoted or serving which slots."""
        views = []
        for server in self.servers:
            if server.process is None:
                views.append(f"node {server.port}: killed")
                continue
            try:
                with contextlib.closing(server.client()) as client:
                    nodes = client.execute_command("CLUSTER NODES")  # type: ignore[no-untyped-call]
                seen = "; ".join(
                    f"{address} {node['flags']} slots {node['slots']}"
                    for address, node in nodes.items()
                )
            except redis.RedisError as exc:
                seen = f"{type(exc).__name__}: {exc}"
            views.append(f"node {server.port} sees: {seen}")
        return "\n".join(views)

    def replica_of(self, primary: RedisServer) -> RedisServer:
        for server in self.servers:
            if server.process is None or server is primary:
                continue
            with contextlib.closing(server.client()) as client:
                replication = client.info("replication")
                if replication["role"] == "slave" and int(replication["master_port"]) == (
                    primary.port
                ):
                    return server
        raise RuntimeError(f"primary {primary.port} has no live replica")

    def failover(self, replica: RedisServer, timeout: float = 45.0) -> None:
        """``CLUSTER FAILOVER`` on ``replica``: it catches up with its primary, which stops
        taking writes meanwhile, then the two swap roles. No acknowledged write is lost.

        Redis abandons a manual failover that has not completed within five seconds (on a
        loaded machine the replica may not catch up in time), so the command is sent again
        until the replica is promoted or ``timeout`` runs out."""
        deadline = time.monotonic() + timeout
        with contextlib.closing(replica.client()) as client:
            while client.info("replication")["role"] != "master":
                if time.monotonic() > deadline:
                    raise RuntimeError(f"replica {replica.port} was not promoted")
                client.execute_command("CLUSTER FAILOVER")  # type: ignore[no-untyped-call]
                attempt_ends = min(deadline, time.monotonic() + 6.0)
                while (
                    client.info("replication")["role"] != "master"
                    and time.monotonic() < attempt_ends
                ):
                    time.sleep(0.02)
        self.wait_healthy()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def start_server(directory: Path, *, persistence: Sequence[str] = ()) -> RedisServer:
    """A private standalone ``redis-server``, started; ``stop()`` it when done."""
    return RedisServer(directory, persistence=persistence).start()


def start_cluster(directory: Path, *, primaries: int = 3, replicas: int = 1) -> LocalCluster:
    """A private Redis Cluster, created and healthy; ``stop()`` it when done."""
    return LocalCluster(directory, primaries=primaries, replicas=replicas).start()


_shared: LocalCluster | None = None
_users = 0


@contextlib.contextmanager
def shared_cluster(directory: Path) -> Iterator[LocalCluster]:
    """One cluster for every test session fixture that asks (the plugin's tests and the chaos
    suite each have one): started by the first, stopped when the last lets go."""
    global _shared, _users
    if _shared is None:
        _shared = start_cluster(directory)
    _users += 1
    try:
        yield _shared
    finally:
        _users -= 1
        if _users == 0:
            _shared.stop()
            _shared = None


#: The shared Redis for tests that need no private server (a unique key prefix per test).
REDIS_URL_ENV = "UNIPAY_TEST_REDIS_URL"
DEFAULT_TEST_URL = "redis://127.0.0.1:6379/0"
#: Set (as CI does) to make a missing Redis or redis-server a failure instead of a skip.
REQUIRE_ENV = "UNIPAY_REQUIRE_REDIS"


def shared_redis_url() -> tuple[str, str | None]:
    """The shared test Redis's URL and, if it does not answer, why."""
    url = os.environ.get(REDIS_URL_ENV) or DEFAULT_TEST_URL
    try:
        with contextlib.closing(redis.Redis.from_url(url, socket_timeout=2)) as client:
            client.ping()
    except redis.RedisError as exc:
        return url, f"no Redis at {hide_secrets(url)} ({type(exc).__name__}); set {REDIS_URL_ENV}"
    return url, None


def delete_prefixed(url: str, prefix: str) -> int:
    """Delete the keys under ``prefix`` on a standalone Redis (what a test left behind)."""
    with contextlib.closing(redis.Redis.from_url(url, socket_timeout=5)) as client:
        keys = list(client.scan_iter(match=prefix.replace("*", r"\*") + "*", count=1000))
        return int(client.delete(*keys)) if keys else 0
