"""``redis_url`` forms beyond one server: a Redis Cluster and a Sentinel-watched master.

- ``redis://``, ``rediss://``, ``unix://``: one server, as redis-py's ``from_url`` reads them;
- ``redis+cluster://[user:password@]host:port[,host:port...][?options]`` (``rediss+cluster://`` for
  TLS): a Redis Cluster, found from any of the nodes listed;
- ``redis+sentinel://[user:password@]host:port[,host:port...]/service_name[/db][?options]``
  (``rediss+sentinel://``): the master that the Sentinels name ``service_name``, followed through
  failovers. The password is the master's; Sentinels that need one take ``sentinel_password=``.

Every client kefu makes (the async one of each process, the scheduler's synchronous job store)
comes from here, so a URL that works for one works for all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import redis
import redis.asyncio as aredis
from redis.asyncio.cluster import ClusterNode as AsyncClusterNode
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.cluster import ClusterNode, RedisCluster
from redis.sentinel import Sentinel

from bot.redis_pipelining import PipeliningRedis

CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
# Query options passed on to the client, with their types; anything else is refused by name.
_OPTIONS: dict[str, type] = {"socket_timeout": float, "socket_connect_timeout": float, "sentinel_password": str}


@dataclass(frozen=True, slots=True)
class Topology:
    """What a cluster or Sentinel URL says: where to start, as whom, and for Sentinel which master."""

    kind: str  # "cluster" or "sentinel"
    nodes: tuple[tuple[str, int], ...]
    tls: bool = False
    username: str | None = None
    password: str | None = None
    service: str = ""  # Sentinel: the master's name
    db: int = 0
    options: dict[str, Any] = field(default_factory=dict)


def scheme_of(url: str) -> str:
    return url.partition("://")[0].lower() if "://" in url else ""


def parse_topology(url: str) -> Topology | None:
    """The cluster or Sentinel URL's parts; None for a one-server URL. Raises ValueError saying
    what is wrong (never repeating the URL, which may hold a password)."""
    scheme = scheme_of(url)
    if scheme not in CLUSTER_SCHEMES + SENTINEL_SCHEMES:
        return None
    kind = "cluster" if scheme in CLUSTER_SCHEMES else "sentinel"
    parts = urlsplit(url)
    credentials, _, hosts = parts.netloc.rpartition("@")
    username, _, password = credentials.partition(":")
    nodes = tuple(_node(node) for node in hosts.split(",")) if hosts else ()
    if not nodes:
        raise ValueError(f"{scheme}:// needs at least one host:port")
    path = [unquote(p) for p in parts.path.split("/") if p]
    service, db = "", 0
    if kind == "cluster" and path:
        raise ValueError(f"{scheme}:// takes no path (a cluster has one database); list nodes as host:port,host:port")
    if kind == "sentinel":
        if not path or len(path) > 2:
            raise ValueError(f"{scheme}:// needs the master's name as its path: {scheme}://host:port/mymaster[/db]")
        service = path[0]
        if len(path) == 2:
            if not path[1].isdigit():
                raise ValueError(f"the database after the master's name must be a number, not '{path[1]}'")
            db = int(path[1])
    options: dict[str, Any] = {}
    for name, value in parse_qsl(parts.query):
        if name not in _OPTIONS or (name == "sentinel_password" and kind != "sentinel"):
            raise ValueError(f"unknown option '{name}'")
        try:
            options[name] = _OPTIONS[name](value)
        except ValueError:
            raise ValueError(f"option '{name}' must be a {_OPTIONS[name].__name__}") from None
    return Topology(
        kind, nodes, scheme.startswith("rediss"), unquote(username) or None, unquote(password) or None, service, db,
        options,
    )  # fmt: skip


def _node(text: str) -> tuple[str, int]:
    host, sep, port = text.strip().rpartition(":")
    host = host.strip("[]")  # [::1]:7000
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"'{text}' is not host:port")
    return host, int(port)


def _auth(t: Topology) -> dict[str, Any]:
    extra = {k: v for k, v in t.options.items() if k != "sentinel_password"}
    return {"username": t.username, "password": t.password, "ssl": t.tls, **extra}


def async_client(url: str, *, max_connections: int = 100) -> aredis.Redis | AsyncRedisCluster:
    """The asyncio client for ``url``: auto-pipelining on one server or a Sentinel's master (the
    Sentinel connection finds the current master on each reconnect), redis-py's cluster client on
    a cluster (it routes each command to its slot's master and follows MOVED after a failover)."""
    t = parse_topology(url)
    if t is None:
        return PipeliningRedis.from_url(
            url, decode_responses=False, health_check_interval=10, max_connections=max_connections
        )
    if t.kind == "cluster":
        return AsyncRedisCluster(
            startup_nodes=[AsyncClusterNode(host, port) for host, port in t.nodes],
            decode_responses=False, max_connections=max_connections, **_auth(t),
        )  # fmt: skip
    sentinel = AsyncSentinel(list(t.nodes), sentinel_kwargs=_sentinel_kwargs(t))
    master: aredis.Redis = sentinel.master_for(
        t.service, redis_class=PipeliningRedis, db=t.db, decode_responses=False, health_check_interval=10,
        max_connections=max_connections, **_auth(t),
    )  # fmt: skip
    return master


def sync_client(url: str) -> redis.Redis | RedisCluster:
    """The synchronous client for ``url`` (APScheduler's job store needs one)."""
    t = parse_topology(url)
    if t is None:
        return redis.Redis.from_url(url, decode_responses=False)
    if t.kind == "cluster":
        return _TransactionalCluster(startup_nodes=[ClusterNode(host, port) for host, port in t.nodes], **_auth(t))
    sentinel = Sentinel(list(t.nodes), sentinel_kwargs=_sentinel_kwargs(t))
    client: redis.Redis = sentinel.master_for(t.service, db=t.db, **_auth(t))
    return client


class _TransactionalCluster(RedisCluster):
    """A cluster client whose ``pipeline()`` is a MULTI/EXEC transaction, as redis-py's ``Redis``
    one is by default: callers written for one server (APScheduler's job store) call ``multi()``
    on it. Its keys must share a slot, as everything kefu writes together does."""

    def pipeline(self, transaction: Any = True, shard_hint: Any = None) -> Any:
        return super().pipeline(transaction=transaction, shard_hint=shard_hint)


def _sentinel_kwargs(t: Topology) -> dict[str, Any]:
    password = t.options.get("sentinel_password")
    return {"password": password, "ssl": t.tls} if password else {"ssl": t.tls}
