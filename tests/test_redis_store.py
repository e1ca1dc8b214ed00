"""Redis access: the embedded server, the key layout, unusable URLs."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from bot.redis_store import EmbeddedRedis, Keys, RedisHandle, RedisUnavailable


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
