"""SIGTERM to `kefu serve` (docker stop, systemctl stop) is a clean stop: no more callbacks, the
message in hand answered and acknowledged, partitions and the scheduler's lock given back, exit 0
within a bound, and what was accepted meanwhile answered by the next start."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import httpx
import pytest
import redis

from bot.queue import GROUP
from tests.support.callbacks import AES_KEY, CORP, SEND, TOKEN, wecom_callback
from tests.support.fake_platform import FakePlatform
from tests.support.serving import free_port, start_serve, wait_until

STOP_BOUND_SECONDS = 15.0  # under the stop timeouts of deploy/ (30 s)
SEND_SECONDS = 0.6  # the platform's answer to the reply in flight comes this late


def serve(tmp_path: Path, redis_url: str, model_dir: Path, fake: FakePlatform, port: int, n: int):  # type: ignore[no-untyped-def]
    """``kefu serve`` (one HTTP and one worker process) on a Redis this test can read after it
    exits, with the WeCom channel on ``fake``."""
    config = tmp_path / "kefu.yaml"
    config.write_text(f"redis_url: {redis_url}\n", encoding="utf-8")
    return start_serve(
        port, tmp_path / f"serve{n}.log", "--config", str(config),
        KEFU_DATA_DIR=str(model_dir), KEFU_SERVER__HTTP_PROCESSES="1", KEFU_SERVER__WORKER_PROCESSES="1",
        KEFU_CHANNELS__WECOM__CORP_ID=CORP, KEFU_CHANNELS__WECOM__SECRET="s3cret",
        KEFU_CHANNELS__WECOM__TOKEN=TOKEN, KEFU_CHANNELS__WECOM__ENCODING_AES_KEY=AES_KEY,
        KEFU_CHANNELS__WECOM__API_BASE=fake.base,
    )  # fmt: skip


def post(base: str, text: str, msg_id: str) -> int | None:
    """The callback's status, or None when the connection is refused."""
    query, body = wecom_callback(text, msg_id, sender=f"u{msg_id}")
    try:
        return httpx.post(f"{base}/webhooks/wecom", params=query, content=body, timeout=5).status_code
    except httpx.TransportError:
        return None


def answered(fake: FakePlatform) -> list[str]:
    """Who got a reply, one entry per reply sent (each callback comes from a sender of its own)."""
    return [call.json()["touser"] for call in fake.calls(SEND)]


def pending_ids(r: redis.Redis) -> list[str]:
    """The message ids of the inbox entries read by a consumer and never acknowledged."""
    ids = []
    for key in r.scan_iter(match="kefu:*inbox*", _type="stream"):
        for entry in r.xpending_range(key, GROUP, "-", "+", 1000):
            for _, fields in r.xrange(key, entry["message_id"], entry["message_id"]):
                ids.append(json.loads(fields["d"])["message_id"])
    return ids


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="signals a process tree (Linux)")
def test_sigterm_stops_cleanly_and_loses_nothing(tmp_path: Path, redis_clean: str, trained_model_dir: Path) -> None:
    data_dir = tmp_path / "data"  # hard links: kefu replaces model files, never writes into them
    shutil.copytree(trained_model_dir, data_dir, copy_function=os.link)
    r = redis.Redis.from_url(redis_clean, decode_responses=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with FakePlatform() as fake:
        proc = serve(tmp_path, redis_clean, data_dir, fake, port, 1)
        try:
            wait_until(lambda: ready(base), 60)
            wait_until(lambda: bool(list(r.scan_iter("kefu:lease:inbox:*"))), 30)
            wait_until(lambda: r.exists("kefu:scheduler:leader") == 1, 30)

            # A reply the platform is slow to take: its message is in flight when SIGTERM comes.
            fake.after(SEND, lambda: time.sleep(SEND_SECONDS))
            assert post(base, "我的快递到哪了", "7001") == 200
            fake.wait_for(SEND, 1, timeout=30)
            stopped_at = time.monotonic()
            proc.send_signal(signal.SIGTERM)

            # No more callbacks while it is still stopping: refused (or 503), not taken.
            accepted_late: list[str] = []
            refused_while_running = False
            for i in range(200):
                status = post(base, "退款多久到账", f"71{i:02d}")
                if status == 200:
                    accepted_late.append(f"71{i:02d}")
                elif proc.poll() is None:
                    refused_while_running = True
                    break
                else:
                    break
                time.sleep(0.01)
            assert refused_while_running, "kefu serve kept taking callbacks until it exited"

            code = proc.wait(timeout=STOP_BOUND_SECONDS)
            took = time.monotonic() - stopped_at
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            print((tmp_path / "serve1.log").read_text(errors="replace"))  # shown when the test failed
        assert code == 0, f"exit code {code}"
        assert took < STOP_BOUND_SECONDS

        # The message in hand was answered and acknowledged (as may be some accepted late);
        # no lease or lock is left.
        assert answered(fake).count("u7001") == 1
        # Entries read but not yet started stay pending for the next owner: only those accepted late.
        assert set(pending_ids(r)) <= set(accepted_late)
        assert list(r.scan_iter("kefu:lease:*")) == []
        assert r.exists("kefu:scheduler:leader") == 0
        assert all(r.zcard(key) == 0 for key in r.scan_iter("kefu:members:*"))

        # What was accepted while stopping is answered by the next start, once each.
        fake.after(SEND, lambda: None)
        proc = serve(tmp_path, redis_clean, data_dir, fake, port, 2)
        try:
            wait_until(lambda: set(answered(fake)) == {"u7001", *(f"u{i}" for i in accepted_late)}, 60)
            time.sleep(1)
            assert sorted(answered(fake)) == sorted(["u7001", *(f"u{i}" for i in accepted_late)])
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=STOP_BOUND_SECONDS)
            print((tmp_path / "serve2.log").read_text(errors="replace"))


def ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False
