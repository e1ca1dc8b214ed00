"""`kefu serve` as operators run it: HTTP processes that acknowledge, worker processes that
answer, restarted when they die, all stopped (embedded Redis included) on SIGTERM; the embedded
Redis restarted when it dies, and never left behind when kefu serve is killed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from bot.processes import METRICS_ENV, Child, ChildProcesses, share_metrics
from tests.support.callbacks import AES_KEY, CORP, SEND, TOKEN, wecom_callback
from tests.support.fake_platform import FakePlatform
from tests.support.serving import free_port, start_serve, wait_until

ROOT = Path(__file__).resolve().parents[2]


def children_of(pid: int) -> dict[int, str]:
    """pid -> command line of the live child processes of ``pid`` (Linux /proc)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(stat.parent.name)] = cmdline
    return found


def role(cmdline: str) -> str:
    if "redis-server" in cmdline:
        return "redis"
    return "worker" if " worker " in cmdline else "serve" if "--parent-pid" in cmdline else "?"


@pytest.fixture()
def data_dir(tmp_path: Path, trained_model_dir: Path) -> Path:
    """A data_dir of this test's own holding the trained model (and, once started, the embedded Redis)."""
    copy = tmp_path / "data"
    shutil.copytree(trained_model_dir, copy)
    return copy


def serve_on_fake(
    tmp_path: Path, data_dir: Path, fake: FakePlatform, port: int, *, http: int, workers: int, log_name: str = "serve"
) -> tuple[subprocess.Popen[bytes], Path]:
    """``kefu serve`` with the embedded Redis and the WeCom channel on ``fake``; and its log."""
    log = tmp_path / f"{log_name}.log"
    serve = start_serve(
        port, log, KEFU_DATA_DIR=str(data_dir), KEFU_LOG_LEVEL="INFO",
        KEFU_SERVER__HTTP_PROCESSES=str(http), KEFU_SERVER__WORKER_PROCESSES=str(workers),
        KEFU_CHANNELS__WECOM__CORP_ID=CORP, KEFU_CHANNELS__WECOM__SECRET="s3cret",
        KEFU_CHANNELS__WECOM__TOKEN=TOKEN, KEFU_CHANNELS__WECOM__ENCODING_AES_KEY=AES_KEY,
        KEFU_CHANNELS__WECOM__API_BASE=fake.base,
    )  # fmt: skip
    return serve, log


def ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def stop_serve(serve: subprocess.Popen[bytes], log: Path) -> None:
    if serve.poll() is None:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=30)
    print(log.read_text(errors="replace"))  # shown by pytest when the test failed


linux_only = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from Linux /proc")


@linux_only
def test_serve_with_http_and_worker_processes(tmp_path: Path, data_dir: Path) -> None:
    port = free_port()
    with FakePlatform() as fake:
        serve, log = serve_on_fake(tmp_path, data_dir, fake, port, http=2, workers=1)
        base = f"http://127.0.0.1:{port}"
        try:
            # Redis, one more HTTP process and a worker, each past exec (until then a child
            # shows the parent's command line).
            wait_until(lambda: sorted(role(cmd) for cmd in children_of(serve.pid).values())
                       == ["redis", "serve", "worker"], timeout=60)  # fmt: skip
            kids = children_of(serve.pid)
            http_pid = next(p for p, cmd in kids.items() if role(cmd) == "serve")
            worker_pid = next(p for p, cmd in kids.items() if role(cmd) == "worker")

            def answered(n: int) -> bool:
                try:
                    return httpx.get(f"{base}/readyz", timeout=2).status_code == 200 and len(fake.calls(SEND)) >= n
                except httpx.HTTPError:
                    return False

            query, body = wecom_callback("我的快递到哪了", "9001")
            wait_until(lambda: httpx.get(f"{base}/readyz", timeout=2).status_code == 200, timeout=60)
            assert httpx.post(f"{base}/webhooks/wecom", params=query, content=body).status_code == 200
            wait_until(lambda: answered(1), timeout=90)  # the worker loads its models after the HTTP side is ready

            owners = set(_lease_owners(data_dir, "inbox").values())  # every partition, one worker
            [owner] = owners
            assert f":{serve.pid}:" in owner and owner.endswith(":worker0")

            os.kill(worker_pid, signal.SIGKILL)  # a worker dies: it is replaced, nothing is lost
            query, body = wecom_callback("退款多久到账", "9002")
            assert httpx.post(f"{base}/webhooks/wecom", params=query, content=body).status_code == 200
            wait_until(lambda: answered(2), timeout=60)
            replacement = [p for p, cmd in children_of(serve.pid).items() if role(cmd) == "worker"]
            assert replacement and worker_pid not in replacement
            # Under its predecessor's name: it took the leases over at once, not once they ran out.
            assert set(_lease_owners(data_dir, "inbox").values()) == owners

            # Forged callbacks on new connections, which the kernel spreads over both HTTP
            # processes: /metrics counts every one, the first process's share too.
            forged = dict(query, msg_signature="0" * 40)
            for _ in range(8):
                assert httpx.post(f"{base}/webhooks/wecom", params=forged, content=body).status_code == 403
            # /metrics adds up every process: the answers were counted by the worker processes.
            metrics = httpx.get(f"{base}/metrics").text
            assert 'kefu_decisions_total{action="answer"} 2.0' in metrics
            assert 'kefu_callbacks_total{outcome="refused_403",platform="wecom"} 8.0' in metrics
            assert 'kefu_callbacks_total{outcome="accepted",platform="wecom"} 2.0' in metrics
            # Only the workers hold models; the HTTP processes pass /api/chat on to them.
            assert f'kefu_models_loaded{{pid="{replacement[0]}"}} 1.0' in metrics
            assert f'kefu_models_loaded{{pid="{http_pid}"}} 0.0' in metrics
            assert f'kefu_models_loaded{{pid="{serve.pid}"}} 0.0' in metrics
            for n in range(6):  # new connections: the kernel spreads them over both HTTP processes
                assert httpx.get(f"{base}/readyz", timeout=5).json()["models_in"] == "worker processes"
                chat = httpx.post(f"{base}/api/chat", json={"user": f"web{n}", "text": "怎么退货"}, timeout=15)
                assert chat.status_code == 200 and chat.json()["intent"] == "how_to_return"
            assert len(fake.calls(SEND)) == 2
        finally:
            stop_serve(serve, log)
        for pid in (http_pid, worker_pid):
            assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
        assert not (data_dir / "redis" / "redis.sock").exists() or not _redis_answers(data_dir)


def _lease_owners(data_dir: Path, queue: str) -> dict[str, str]:
    """Partition lease key -> owner, read from the embedded Redis."""
    import redis

    with redis.Redis(unix_socket_path=str(data_dir / "redis" / "redis.sock"), decode_responses=True) as r:
        return {key: r.get(key) for key in r.scan_iter(f"kefu:lease:{queue}:*")}


def _redis_answers(data_dir: Path) -> bool:
    import redis

    try:
        return bool(redis.Redis(unix_socket_path=str(data_dir / "redis" / "redis.sock"), socket_timeout=1).ping())
    except redis.RedisError:
        return False


def test_each_serve_counts_in_its_own_metrics_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(METRICS_ENV, "")  # restored (unset) after the test: share_metrics sets it
    root = tmp_path / "metrics"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (root / str(other.pid)).mkdir(parents=True)  # another serve on this data_dir, running
        (root / str(other.pid) / "counter_1.db").write_bytes(b"x")
        (root / "999999999").mkdir()  # a serve that is gone
        (root / "counter_2.db").write_bytes(b"x")  # the files of a version that shared one directory
        # An earlier serve's under this pid (a container's kefu is pid 1 at every start).
        (root / str(os.getpid())).mkdir()
        (root / str(os.getpid()) / "counter_1.db").write_bytes(b"x")
        assert share_metrics(tmp_path)  # prometheus_client is imported: start again to count there
        assert os.environ[METRICS_ENV] == str((root / str(os.getpid())).resolve())
        assert not share_metrics(tmp_path)  # started again: nothing to do
        assert sorted(p.name for p in root.iterdir()) == sorted([str(other.pid), str(os.getpid())])
        assert (root / str(other.pid) / "counter_1.db").exists()
        assert (root / str(os.getpid())).is_dir() and not any((root / str(os.getpid())).iterdir())
    finally:
        other.kill()
        other.wait()


def _gone(pid: int) -> bool:
    """Exited (a zombie not yet reaped by whoever inherited it counts as exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "ZX"
    except OSError:
        return True


def _redis_child(serve_pid: int) -> int | None:
    return next((p for p, cmd in children_of(serve_pid).items() if role(cmd) == "redis"), None)


@linux_only
def test_a_killed_embedded_redis_is_restarted_and_no_acknowledged_message_is_lost(
    tmp_path: Path, data_dir: Path
) -> None:
    """kill -9 of redis-server under a light load of signed callbacks, each delivered again
    while refused, as the platform does: every acknowledged message is answered exactly once,
    and callbacks get 200 again soon, with no hand restart."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with FakePlatform() as fake:
        serve, log = serve_on_fake(tmp_path, data_dir, fake, port, http=1, workers=1)
        try:
            wait_until(lambda: sorted(role(c) for c in children_of(serve.pid).values()) == ["redis", "worker"], 60)
            wait_until(lambda: ready(base), timeout=60)
            first_redis = _redis_child(serve.pid)
            assert first_redis is not None
            acknowledged: list[str] = []
            refused = 0
            killed_at = back_after = None
            for n in range(40):
                sender = f"load{n}"
                query, body = wecom_callback("我的快递到哪了", str(8100 + n), sender=sender)
                if n == 15:
                    os.kill(first_redis, signal.SIGKILL)
                    killed_at = time.monotonic()
                deadline = time.monotonic() + 30
                while True:  # the platform delivers it again until it gets a 200
                    try:
                        status = httpx.post(
                            f"{base}/webhooks/wecom", params=query, content=body, timeout=10
                        ).status_code
                    except httpx.HTTPError:
                        status = None
                    if status == 200:
                        break
                    assert status in (503, None), status  # "retry later", never a loss
                    refused += 1
                    assert time.monotonic() < deadline, "callbacks still refused after 30 s"
                    time.sleep(0.1)
                if killed_at is not None and back_after is None:
                    back_after = time.monotonic() - killed_at
                acknowledged.append(sender)
                time.sleep(0.05)
            print(f"{refused} deliveries refused; callbacks answered 200 again {back_after:.2f} s after the kill")
            assert refused >= 1  # the outage was seen, and ridden out
            assert back_after is not None and back_after < 10
            assert _redis_child(serve.pid) not in (None, first_redis)  # restarted by kefu serve

            def answered() -> list[str]:
                return [sent["touser"] for sent in fake.state.get("app_sent", [])]

            wait_until(lambda: set(answered()) >= set(acknowledged), timeout=90, interval=0.5)
            time.sleep(2)  # a second answer to any of them would have gone out by now
            assert sorted(answered()) == sorted(acknowledged)  # each exactly once
            assert ready(base)
        finally:
            stop_serve(serve, log)


@linux_only
def test_kill_9_of_serve_takes_its_redis_along_and_the_next_start_runs_its_own(tmp_path: Path, data_dir: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with FakePlatform() as fake:
        serve, log = serve_on_fake(tmp_path, data_dir, fake, port, http=1, workers=0)
        try:
            wait_until(lambda: _redis_child(serve.pid) is not None, timeout=60)
            wait_until(lambda: ready(base), timeout=60)
            first_redis = _redis_child(serve.pid)
            assert first_redis is not None
            serve.kill()
            serve.wait()
            wait_until(lambda: _gone(first_redis), timeout=15)  # not left running on its own
        finally:
            stop_serve(serve, log)
        again, again_log = serve_on_fake(tmp_path, data_dir, fake, port, http=1, workers=0, log_name="again")
        try:
            wait_until(lambda: ready(base), timeout=60)
            second_redis = _redis_child(again.pid)
            assert second_redis is not None and second_redis != first_redis
            owner = json.loads((data_dir / "redis" / "owner.json").read_text())
            assert owner == {"owner": again.pid, "server": second_redis}
        finally:
            stop_serve(again, again_log)
        assert _gone(second_redis)


_CHILD = """
import sys, time
from pathlib import Path
from bot.processes import report_ready
marks, mode = Path(sys.argv[1]), sys.argv[2]
fd = int(sys.argv[sys.argv.index("--ready-fd") + 1])
(marks / f"started-{time.monotonic_ns()}").touch()
if mode == "crash":
    sys.exit(3)
report_ready(fd)
(marks / "up").write_text(str(__import__("os").getpid()))
time.sleep(120)
"""


def _run_children(children: ChildProcesses, body) -> None:  # type: ignore[no-untyped-def]
    """Run ``children`` in an event loop in a thread while ``body()`` runs here; then stop them."""
    loop = asyncio.new_event_loop()
    task = loop.create_task(children.run())

    def drive() -> None:
        with contextlib.suppress(asyncio.CancelledError):  # how it is told to stop
            loop.run_until_complete(task)

    thread = threading.Thread(target=drive, daemon=True)
    thread.start()
    try:
        body()
    finally:
        loop.call_soon_threadsafe(task.cancel)
        thread.join(timeout=30)
        loop.close()


def test_a_child_that_was_up_is_restarted_at_once_however_often_it_is_killed(tmp_path: Path) -> None:
    """A worker killed again and again, each time once it was up, is replaced promptly every
    time, not after a delay that doubles with each death."""
    up = tmp_path / "up"
    children = ChildProcesses([Child("worker", [sys.executable, "-c", _CHILD, str(tmp_path), "run"])], "")

    def kill_repeatedly() -> None:
        previous = None
        for kills in range(7):
            # Each replacement comes within this wait; six doubling delays would take a minute.
            wait_until(lambda gone=str(previous): up.exists() and up.read_text() not in ("", gone), timeout=8)
            if kills == 6:
                return
            previous = int(up.read_text())
            os.kill(previous, signal.SIGKILL)

    _run_children(children, kill_repeatedly)
    assert len(list(tmp_path.glob("started-*"))) == 7


def test_a_child_that_dies_before_it_is_up_is_restarted_after_growing_delays(tmp_path: Path) -> None:
    children = ChildProcesses([Child("worker", [sys.executable, "-c", _CHILD, str(tmp_path), "crash"])], "")
    _run_children(children, lambda: time.sleep(8))
    # 1, 2 and 4 s apart (plus the checks' half second): four starts in 8 s; at once would be a dozen.
    assert 2 <= len(list(tmp_path.glob("started-*"))) <= 5
