"""`kefu serve` as operators run it: HTTP processes that acknowledge, worker processes that
answer, restarted when they die, all stopped (embedded Redis included) on SIGTERM."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bot.processes import METRICS_ENV, share_metrics
from tests.fake_platform import FakePlatform
from tests.serving import free_port, start_serve, wait_until
from tests.test_gateway_e2e import AES_KEY, CORP, SEND, TOKEN, wecom_callback

ROOT = Path(__file__).resolve().parent.parent


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


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from Linux /proc")
def test_serve_with_http_and_worker_processes(tmp_path: Path, trained_model_dir: Path) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(trained_model_dir, data_dir)
    port = free_port()
    with FakePlatform() as fake:
        log = tmp_path / "serve.log"
        serve = start_serve(
            port, log, KEFU_DATA_DIR=str(data_dir), KEFU_LOG_LEVEL="INFO",
            KEFU_SERVER__HTTP_PROCESSES="2", KEFU_SERVER__WORKER_PROCESSES="1",
            KEFU_CHANNELS__WECOM__CORP_ID=CORP, KEFU_CHANNELS__WECOM__SECRET="s3cret",
            KEFU_CHANNELS__WECOM__TOKEN=TOKEN, KEFU_CHANNELS__WECOM__ENCODING_AES_KEY=AES_KEY,
            KEFU_CHANNELS__WECOM__API_BASE=fake.base,
        )  # fmt: skip
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
            wait_until(lambda: answered(1), timeout=30)

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

            # /metrics adds up every process: the answers were counted by the worker processes.
            metrics = httpx.get(f"{base}/metrics").text
            assert 'kefu_decisions_total{action="answer"} 2.0' in metrics
            assert len(fake.calls(SEND)) == 2
        finally:
            serve.send_signal(signal.SIGTERM)
            serve.wait(timeout=30)
            print(log.read_text(errors="replace"))  # shown by pytest when the test failed
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
        share_metrics(tmp_path)
        assert os.environ[METRICS_ENV] == str((root / str(os.getpid())).resolve())
        assert sorted(p.name for p in root.iterdir()) == sorted([str(other.pid), str(os.getpid())])
        assert (root / str(other.pid) / "counter_1.db").exists()
    finally:
        other.kill()
        other.wait()
