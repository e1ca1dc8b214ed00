"""Redis access: the embedded server (its supervision and ownership), the key layout, unusable URLs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from bot.redis_store import EmbeddedRedis, Keys, RedisHandle, RedisUnavailable
from tests.support.serving import wait_until

ROOT = Path(__file__).resolve().parents[2]


def test_embedded_redis_persists_across_restart(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path)
    url = server.start()
    assert url.startswith("unix://")
    client = redis.Redis.from_url(url)
    client.set("kefu:test:k", "值")
    client.hset("kefu:test:h", mapping={"a": "1"})
    client.close()
    server.stop()
    assert (tmp_path / "redis").is_dir()
    with pytest.raises(redis.RedisError):
        redis.Redis.from_url(url, socket_timeout=0.5).ping()  # really stopped

    again = EmbeddedRedis(tmp_path)
    url2 = again.start()
    try:
        client = redis.Redis.from_url(url2)
        assert client.get("kefu:test:k").decode() == "值"
        assert client.hgetall("kefu:test:h") == {b"a": b"1"}
        assert client.config_get("appendonly")["appendonly"] == "yes"
        client.close()
    finally:
        again.stop()


def test_second_embedded_start_on_the_same_dir_shares_the_server(tmp_path: Path) -> None:
    first = EmbeddedRedis(tmp_path)
    url = first.start()
    try:
        second = EmbeddedRedis(tmp_path)
        assert second.start() == url
        second.stop()  # it did not start the server, so it does not stop it
        assert redis.Redis.from_url(url).ping()
    finally:
        first.stop()


def test_customer_keys_carry_a_hash_tag() -> None:
    keys = Keys("kefu")
    key = keys.customer("wecom:abc", "dialogue")
    assert key == "kefu:{c:wecom:abc}:dialogue"
    assert keys.customer("wecom:abc", "contacts").split(":{")[1].startswith("c:wecom:abc}")
    assert keys.of("inbox", "3") == "kefu:inbox:3"
    assert Keys("shop2").customer("u:x", "d").startswith("shop2:{c:u:x}")


def test_keys_of_one_customer_land_in_one_cluster_slot() -> None:
    from redis.crc import key_slot

    keys = Keys("kefu")
    slots = {key_slot(keys.customer("wecom:abc", w).encode()) for w in ("dialogue", "contacts", "risk")}
    assert len(slots) == 1


def test_bad_url_scheme_is_redis_unavailable(tmp_path: Path) -> None:
    handle = RedisHandle("ftp://example.com/0", tmp_path)
    assert handle.start() == "ftp://example.com/0"  # nothing embedded to start
    with pytest.raises(RedisUnavailable, match="redis_url"):
        handle.async_client()
    with pytest.raises(RedisUnavailable, match="redis_url"):
        handle.sync_client()


def test_handle_with_url_uses_it(redis_url: str, tmp_path: Path) -> None:
    handle = RedisHandle(redis_url, tmp_path)
    assert handle.start() == redis_url
    assert handle.sync_client().ping()
    handle.stop()  # not ours: the shared server stays up
    assert redis.Redis.from_url(redis_url).ping()
    assert not (tmp_path / "redis").exists()


# Supervision: the process that starts the embedded server owns it, restarts it, and takes it
# along when it dies; a server left behind by a dead owner is never adopted silently.

linux_only = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from Linux /proc")


def _gone(pid: int) -> bool:
    """Exited (a zombie not yet reaped by whoever inherited it counts as exited)."""
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] in "ZX"
    except OSError:
        return True


def _owner_process(data_dir: Path) -> tuple[subprocess.Popen[str], int]:
    """Another kefu process that starts the embedded server on ``data_dir`` and keeps running;
    returns it and the server's pid."""
    code = (
        "import sys, time; from pathlib import Path; from bot.redis_store import EmbeddedRedis\n"
        "server = EmbeddedRedis(Path(sys.argv[1])); server.start(); print(server.pid, flush=True); time.sleep(120)"
    )
    owner = subprocess.Popen([sys.executable, "-c", code, str(data_dir)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = owner.stdout.readline()  # type: ignore[union-attr]
    assert line.strip().isdigit(), "the owner process did not start its server"
    return owner, int(line)


async def _supervised(server: EmbeddedRedis, until, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    """Run ``server.supervise()`` until ``until()`` holds (polled), or fail after ``timeout``."""
    task = asyncio.create_task(server.supervise())
    try:
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(until):
            assert time.monotonic() < deadline, "supervision did not get there in time"
            assert not task.done(), task
            await asyncio.sleep(0.05)
    finally:
        task.cancel()


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def test_a_killed_embedded_server_is_started_again_with_its_data(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path)
    url = server.start()
    try:
        redis.Redis.from_url(url).set("kefu:test:kept", "1")
        first = server.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        asyncio.run(_supervised(server, lambda: server.pid not in (None, first) and _answers(url)))
        assert redis.Redis.from_url(url).get("kefu:test:kept") == b"1"  # from the append-only file
        assert json.loads(server.owner_file.read_text()) == {"owner": os.getpid(), "server": server.pid}
    finally:
        server.stop()
    assert not server.owner_file.exists()


@linux_only
def test_the_embedded_server_dies_with_its_owner_even_of_sigkill(tmp_path: Path) -> None:
    owner, server_pid = _owner_process(tmp_path)
    owner.kill()
    owner.wait()
    wait_until(lambda: _gone(server_pid), timeout=15)


@pytest.mark.parametrize("record", ["dead owner", "no record"])
def test_a_server_left_by_a_dead_owner_is_shut_down_and_started_as_ours(tmp_path: Path, record: str) -> None:
    server = EmbeddedRedis(tmp_path)
    server.dir.mkdir(parents=True)
    # A server as a crashed owner leaves it (or an older version, which kept no record): on our
    # socket, with our data, nobody's child.
    subprocess.run([*server.server_command(), "--daemonize", "yes"], check=True, stdout=subprocess.DEVNULL)
    wait_until(lambda: _answers(server.url), timeout=15)
    stale = int(redis.Redis.from_url(server.url).info("server")["process_id"])
    redis.Redis.from_url(server.url).set("kefu:test:kept", "1")
    if record == "dead owner":
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        server.owner_file.write_text(json.dumps({"owner": gone.pid, "server": stale}))
    try:
        server.start()
        assert server.pid is not None and server.pid != stale  # ours, not the adopted stale one
        wait_until(lambda: _gone(stale), timeout=15)
        assert redis.Redis.from_url(server.url).get("kefu:test:kept") == b"1"
        assert json.loads(server.owner_file.read_text()) == {"owner": os.getpid(), "server": server.pid}
    finally:
        server.stop()
        if not _gone(stale):
            os.kill(stale, signal.SIGKILL)


@linux_only
def test_a_sharer_leaves_a_live_owner_its_server_and_takes_over_once_both_are_gone(tmp_path: Path) -> None:
    owner, server_pid = _owner_process(tmp_path)
    sharer = EmbeddedRedis(tmp_path)
    try:
        url = sharer.start()
        assert sharer.pid is None  # shared, not started
        assert json.loads(sharer.owner_file.read_text())["server"] == server_pid
        redis.Redis.from_url(url).set("kefu:test:kept", "1")
        owner.kill()
        owner.wait()
        asyncio.run(_supervised(sharer, lambda: sharer.pid is not None and _answers(url)))
        assert _gone(server_pid)
        assert redis.Redis.from_url(url).get("kefu:test:kept") == b"1"
    finally:
        sharer.stop()
        if owner.poll() is None:
            owner.kill()
            owner.wait()
