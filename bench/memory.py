"""Memory of ``kefu serve`` under load: the resident set (RSS) of each of its processes before,
during and after a steady stream of signed WeCom and Feishu callbacks, and how long each model
takes to load in a fresh process.

    python bench/memory.py [--duration 60] [--rate 1000] [--http-processes 1] [--worker-processes 1]

Starts the fake platform API and ``kefu serve`` (its defaults, an empty data directory: the first
start trains the models) as bench/gateway_load.py does, sends ``--rate`` callbacks a second for
``--duration`` seconds, and samples the RSS of every process in the serve's tree (embedded Redis
included) every ``--every`` seconds. The callbacks are built in a helper process, one slice ahead
of the one being sent, so that a long run needs no more memory in the generator than a short one.
Then each model file the serve wrote is loaded in a new Python process, which prints the time
and the RSS the load added.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import psutil
import redis
from wechatpy.enterprise import WeChatCrypto

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.gateway_load import (  # noqa: E402
    AES_KEY,
    CORP,
    FS_APP,
    FS_SECRET,
    TOKEN,
    blast,
    feishu_request,
    kefu_env,
    wait_for_workers,
    wait_http,
    wecom_request,
)
from tests.support.serving import free_port  # noqa: E402

# Run in a fresh interpreter per model: what one load costs with nothing else loaded before it.
LOAD_PROBE = """
import json, sys, time
import psutil
from pathlib import Path
kind, path = sys.argv[1], Path(sys.argv[2])
if kind == "intent":
    from bot.nlu.decide import Thresholds
    from bot.nlu.intent_model import IntentModel
    load = lambda: IntentModel.load(path, Thresholds(0.5, 0.1, 0.3, 3))
elif kind == "linear":
    from bot.nlu.intent_model import linear_path
    from bot.nlu.linear import LinearClassifier
    load = lambda: LinearClassifier.load(linear_path(path))
else:
    from alerts.risk.emotion import EmotionModel
    load = lambda: EmotionModel.load(path)
before = psutil.Process().memory_info().rss
started = time.perf_counter()
model = load()
seconds = time.perf_counter() - started
print(json.dumps({"ms": seconds * 1000, "rss_mb": (psutil.Process().memory_info().rss - before) / 2**20}))
"""


def role(proc: psutil.Process, root: int) -> str:
    """What a process of the serve's tree is: the first HTTP process, another, a worker, Redis."""
    argv = proc.cmdline()
    if proc.pid == root:
        return "serve (first HTTP)"
    if argv and "redis-server" in argv[0]:
        return "redis"
    if argv and "redis" in argv[0]:  # a fork rewriting the append-only file, sharing its pages
        return "redis fork"
    return "worker" if "worker" in argv else "serve (HTTP)"


def rss_by_process(root: int) -> tuple[dict[str, float], float]:
    """MiB of RSS of each process in ``root``'s tree, named by role (and pid where a role repeats),
    and the tree's total PSS (shared pages, of a fork or of libraries, counted once)."""
    top = psutil.Process(root)
    found: dict[str, float] = {}
    pss = 0.0
    for proc in [top, *top.children(recursive=True)]:
        try:
            name, memory = role(proc, root), proc.memory_full_info()
        except psutil.NoSuchProcess:
            continue
        found[name if name not in found else f"{name} {proc.pid}"] = memory.rss / 2**20
        pss += memory.pss / 2**20
    return found, pss


def build_slice(start: int, count: int, customers: int) -> list[tuple]:
    """Callbacks ``start`` .. ``start + count``, half WeCom, half Feishu, from ``customers``
    customers taking turns (in a helper process)."""
    crypto = WeChatCrypto(TOKEN, AES_KEY, CORP)
    return [
        wecom_request(i, crypto, customer=i % customers) if i % 2 == 0 else feishu_request(i, i % customers)
        for i in range(start, start + count)
    ]


def key_kind(key: bytes) -> str:
    """A Redis key with its customer (hash tag), ids and numbers left out: what kind of key it is."""
    text = re.sub(r"\{[^}]*\}", "{}", key.decode(errors="replace"))
    return ":".join(part for part in re.sub(r"[0-9a-f]{6,}|\d+", "#", text).split(":")[:4])


def redis_by_kind(client: redis.Redis, sample: int = 200) -> tuple[Counter[str], Counter[str]]:
    """Keys by kind, and the bytes each kind holds: ``MEMORY USAGE`` of up to ``sample`` keys of
    the kind, scaled to its count (without the expiry table's share)."""
    keys: dict[str, list[bytes]] = {}
    for key in client.scan_iter(count=1000):
        keys.setdefault(key_kind(key), []).append(key)
    counts, used = Counter({k: len(v) for k, v in keys.items()}), Counter[str]()
    for kind, members in keys.items():
        measured = [client.memory_usage(k, samples=0) or 0 for k in members[:sample]]
        used[kind] = int(sum(measured) / len(measured) * len(members))
    return counts, used


def show(label: str, sample: tuple[dict[str, float], float]) -> str:
    rss, pss = sample
    parts = ", ".join(f"{name} {mib:.0f}" for name, mib in sorted(rss.items()))
    return f"{label:>10}: RSS {sum(rss.values()):4.0f} MiB, PSS {pss:4.0f} MiB ({parts})"


def load_times(data_dir: Path) -> list[str]:
    lines = []
    for kind, name in (("intent", "intent.bin"), ("linear", "intent.bin"), ("emotion", "risk_emotion.bin")):
        path = data_dir / name
        if not path.exists():
            lines.append(f"{kind} model: no file at {path}")
            continue
        runs = [
            json.loads(subprocess.run([sys.executable, "-c", LOAD_PROBE, kind, str(path)], cwd=ROOT, check=True,
                                      capture_output=True, text=True).stdout)
            for _ in range(3)
        ]  # fmt: skip
        ms = sorted(r["ms"] for r in runs)
        size = sum(
            p.stat().st_size for p in path.parent.glob(path.name + "*") if kind != "linear" or "linear" in p.name
        )
        lines.append(
            f"{kind} model load, fresh process: {ms[0]:.1f}-{ms[-1]:.1f} ms (3 runs), +{runs[0]['rss_mb']:.0f} MiB RSS, "
            f"files {size / 2**20:.1f} MiB"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=60, help="seconds of load")
    ap.add_argument("--rate", type=float, default=1000, help="callbacks offered per second")
    ap.add_argument("--every", type=float, default=10, help="seconds between RSS samples (one slice of callbacks)")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--customers", type=int, default=20_000, help="distinct customers writing, in turn")
    ap.add_argument("--http-processes", type=int, default=1)
    ap.add_argument("--worker-processes", type=int, default=1)
    ap.add_argument("--partitions", type=int, default=32)
    args = ap.parse_args()
    data_dir = tempfile.mkdtemp(prefix="kefu-memory-")
    fake_port, kefu_port = free_port(), free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.support.fake_platform", str(fake_port), json.dumps({FS_APP: FS_SECRET})],
            cwd=ROOT,
        )
    ]
    try:
        fake, kefu = f"http://127.0.0.1:{fake_port}", f"http://127.0.0.1:{kefu_port}"
        log = Path(data_dir, "serve.log")
        print(f"kefu serve's output: {log}")
        env = kefu_env(fake, data_dir, args)
        started = time.monotonic()
        serve = subprocess.Popen(
            [sys.executable, "-m", "bot.runtime.cli", "serve", "--host", "127.0.0.1", "--port", str(kefu_port)],
            cwd=ROOT,
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        procs.append(serve)
        for url in (f"{fake}/__replies", f"{kefu}/readyz"):
            wait_http(url, timeout=300)
        print(f"kefu serve ready in {time.monotonic() - started:.1f} s (models trained on the way)")
        wait_for_workers(redis.Redis(unix_socket_path=f"{data_dir}/redis/redis.sock"), args)
        samples = [("ready", rss_by_process(serve.pid))]
        per_slice = int(args.rate * args.every)
        slices = max(1, round(args.duration / args.every))
        sent = 0
        load_started = time.monotonic()
        with concurrent.futures.ProcessPoolExecutor(1) as pool:
            upcoming = pool.submit(build_slice, 0, per_slice, args.customers)
            for n in range(slices):
                requests = upcoming.result()
                if n + 1 < slices:
                    upcoming = pool.submit(build_slice, (n + 1) * per_slice, per_slice, args.customers)
                acks, _, _ = asyncio.run(blast(kefu, requests, args.concurrency, args.rate))
                sent += len(acks)
                samples.append((f"{time.monotonic() - load_started:.0f} s", rss_by_process(serve.pid)))
        seconds = time.monotonic() - load_started
        deadline = time.monotonic() + 120
        replies = lambda: httpx.get(f"{fake}/__replies?count=1", timeout=30).json()["replies"]  # noqa: E731
        while replies() < sent and time.monotonic() < deadline:
            time.sleep(0.5)
        answered = replies()
        samples.append(("answered", rss_by_process(serve.pid)))
        embedded = redis.Redis(unix_socket_path=f"{data_dir}/redis/redis.sock")
        kinds, kind_bytes = redis_by_kind(embedded)
        redis_used = embedded.info("memory")["used_memory"] / 2**20
        print(
            f"{sent} callbacks in {seconds:.0f} s ({sent / seconds:.0f}/s offered {args.rate:.0f}/s), {answered} answered"
        )
        print(f"layout: {args.http_processes} HTTP process(es), {args.worker_processes} worker process(es)")
        print("\n".join(show(label, sample) for label, sample in samples))
        print(f"peak: RSS {max(sum(s[0].values()) for _, s in samples):.0f} MiB, "
              f"PSS {max(s[1] for _, s in samples):.0f} MiB")  # fmt: skip
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
    print("\n".join(load_times(Path(data_dir))))
    shutil.rmtree(data_dir, ignore_errors=True)
    print(
        f"Redis at the end: {redis_used:.0f} MiB used; the kinds of key holding most: "
        + ", ".join(f"{k} {kinds[k]} ({b / 2**20:.1f} MiB)" for k, b in kind_bytes.most_common(12))
    )


if __name__ == "__main__":
    main()
