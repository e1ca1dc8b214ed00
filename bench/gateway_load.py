"""Load on the webhook path: signed, encrypted WeCom and Feishu callbacks sent to a running
``kefu serve`` on loopback, replies received by the fake platform API in its own process.

    python bench/gateway_load.py [--messages 3000] [--concurrency 32] [--rate 1000]
                                 [--http-processes 1] [--worker-processes 1] [--partitions 32] [--ack-only]

Prints, in one run: sustained messages per second end to end, ack latency p50/p99, end-to-end
latency (callback sent -> reply received by the fake platform) p50/p99, the same load on a bare
hello-world endpoint served by the same ASGI server (uvicorn, as many processes) for the ratio
(and, with ``--rate``, at that rate too), the CPU each side's HTTP processes spent per request,
and the Redis commands per callback.
With ``--ack-only`` kefu's worker processes are stopped (SIGSTOP) while hello-world and the ack
path are measured, and resumed after: the ratio is then the HTTP process alone against
hello-world, each sharing the machine only with the generator.
Everything, the generator included, shares this machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode
from xml.etree.ElementTree import fromstring

import httpx
import redis
from wechatpy.enterprise import WeChatCrypto

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.support.callbacks import feishu_encrypt  # noqa: E402
from tests.support.serving import free_port  # noqa: E402

TOKEN, AES_KEY, CORP = "benchtoken", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "ww_bench"
FS_APP, FS_SECRET, FS_TOKEN, FS_KEY = "cli_bench", "fs-secret", "fs-verify", "fs-key"
QUESTIONS = ["我的快递到哪了", "退款多久到账", "怎么退货", "能开发票吗", "有优惠券吗", "AJ1有货么", "尺码怎么选"]


def wecom_request(
    i: int, crypto: WeChatCrypto, text: str | None = None, customer: int | None = None
) -> tuple[str, dict[str, str], dict[str, str], bytes, str]:
    """Callback ``i`` from customer ``customer`` (by default one of its own) saying ``text`` (else
    one of ``QUESTIONS``)."""
    now = str(int(time.time()))
    user = f"u{i if customer is None else customer}"
    plain = (
        f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName>"
        f"<CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{text or QUESTIONS[i % len(QUESTIONS)]}]]></Content><MsgId>{10_000_000 + i}</MsgId>"
        "<AgentID>1000002</AgentID></xml>"
    )
    sealed = fromstring(crypto.encrypt_message(plain, f"n{i}", now))
    body = f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{sealed.findtext('Encrypt')}]]></Encrypt></xml>"
    query = {"msg_signature": sealed.findtext("MsgSignature") or "", "timestamp": now, "nonce": f"n{i}"}
    return "/webhooks/wecom", query, {}, body.encode(), user


def feishu_request(i: int, customer: int | None = None) -> tuple[str, dict[str, str], dict[str, str], bytes, str]:
    now = str(int(time.time()))
    who = i if customer is None else customer
    message_id = f"om_bench_{i}"
    event = {
        "schema": "2.0",
        "header": {"event_id": f"ev{i}", "event_type": "im.message.receive_v1", "create_time": now + "000",
                   "token": FS_TOKEN, "app_id": FS_APP, "tenant_key": "t"},
        "event": {"sender": {"sender_id": {"open_id": f"ou_{who}", "union_id": f"on_{who}", "user_id": f"u{who}"}},
                  "message": {"message_id": message_id, "chat_id": f"oc_{who}", "chat_type": "p2p",
                              "message_type": "text", "create_time": now + "000",
                              "content": json.dumps({"text": QUESTIONS[i % len(QUESTIONS)]}, ensure_ascii=False)}},
    }  # fmt: skip
    raw = json.dumps({"encrypt": feishu_encrypt(json.dumps(event, ensure_ascii=False), FS_KEY)}).encode()
    signature = hashlib.sha256((now + "n" + FS_KEY).encode() + raw).hexdigest()
    headers = {"X-Lark-Request-Timestamp": now, "X-Lark-Request-Nonce": "n", "X-Lark-Signature": signature}
    return "/webhooks/feishu", {}, headers, raw, message_id


def wait_http(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def raw_request(host: str, path: str, params: dict[str, str], headers: dict[str, str], body: bytes) -> bytes:
    """HTTP/1.1 request bytes, built before timing: the generator must cost as little as possible."""
    target = path + ("?" + urlencode(params) if params else "")
    lines = [f"POST {target} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def blast(
    base: str, requests: list, concurrency: int, rate: float = 0.0
) -> tuple[list[float], dict[str, float], float]:
    """Send every request over ``concurrency`` keep-alive connections (a minimal HTTP/1.1 client on
    raw asyncio streams: httpx would make the generator, not the server, the bottleneck).
    With ``rate``, request i is sent no earlier than i/rate seconds after the start (an offered
    load, as platforms deliver it); without, as fast as the server answers.
    Returns the ack latencies, when each was sent, and the duration."""
    host, port = base.removeprefix("http://").split(":")
    prepared = [(raw_request(f"{host}:{port}", *r[:4]), r[4]) for r in requests]
    # The requests built, signed and sealed so far (hundreds of thousands of objects) go out of
    # the collector's sight: full collections over them paused this generator for up to 280 ms
    # (measured next to the timed runs; one inside would have counted as kefu's latency).
    gc.collect()
    gc.freeze()
    acks: list[float] = []
    sent_at: dict[str, float] = {}
    pending = iter(enumerate(prepared))
    begun = time.perf_counter()

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for i, (raw, key) in pending:
                if rate:
                    delay = begun + i / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                started = time.time()
                sent_at[key] = started
                writer.write(raw)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                if status != 200:
                    raise RuntimeError(f"HTTP {status} for {key}")
                acks.append(time.time() - started)
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return acks, sent_at, time.perf_counter() - begun


def server_processes(root: int, role: str = "http") -> dict[int, float]:
    """A server's processes of one ``role`` ("http": ``root`` and those of its children that
    serve HTTP; "worker": kefu's worker processes), each with the user + system CPU seconds it
    has used so far. Linux /proc."""
    found: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, tail = stat.read_text().rsplit(")", 1)
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        fields = tail.split()
        pid, ppid = int(stat.parent.name), int(fields[1])
        argv = cmdline.split(b"\0")
        if (pid == root or ppid == root) and b"redis" not in argv[0] and (b"worker" in argv) == (role == "worker"):
            found[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return found


def cpu_seconds(root: int, role: str = "http") -> float:
    """CPU seconds used so far by ``server_processes(root, role)``, together."""
    return sum(server_processes(root, role).values())


def wait_for_workers(embedded: redis.Redis, args: argparse.Namespace, timeout: float = 120) -> None:
    """Until every worker process holds its share of the inbox and outbox partitions: one still
    starting would take its share over during the timed run, and the hand-over is not what this
    measures."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        leases = ([f"kefu:lease:{queue}:{p}" for p in range(args.partitions)] for queue in ("inbox", "outbox"))
        owners = [embedded.mget(keys) for keys in leases]
        # With no worker processes, the one HTTP process does the work (kefu's single-process layout).
        if all(None not in held and len(set(held)) == (args.worker_processes or 1) for held in owners):
            return
        time.sleep(0.2)
    raise RuntimeError("the worker processes did not share out the partitions")


def start_fake(port: int) -> subprocess.Popen:
    """The fake platform API in a process of its own, replies listed at ``/__replies``."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.fake_platform", str(port), json.dumps({FS_APP: FS_SECRET})], cwd=ROOT
    )


def kefu_env(fake: str, data_dir: str, args: argparse.Namespace, **extra: str) -> dict[str, str]:
    """``kefu serve``'s environment: WeCom and Feishu pointed at the fake platform, no reply rate
    limit, the process layout from ``args``, and ``extra`` settings."""
    return dict(
        os.environ, KEFU_DATA_DIR=data_dir, KEFU_LOG_LEVEL="WARNING",
        KEFU_CHANNELS__WECOM__CORP_ID=CORP, KEFU_CHANNELS__WECOM__AGENT_ID="1000002",
        KEFU_CHANNELS__WECOM__SECRET="s", KEFU_CHANNELS__WECOM__TOKEN=TOKEN,
        KEFU_CHANNELS__WECOM__ENCODING_AES_KEY=AES_KEY, KEFU_CHANNELS__WECOM__API_BASE=fake,
        KEFU_CHANNELS__FEISHU__APP_ID=FS_APP, KEFU_CHANNELS__FEISHU__APP_SECRET=FS_SECRET,
        KEFU_CHANNELS__FEISHU__VERIFICATION_TOKEN=FS_TOKEN, KEFU_CHANNELS__FEISHU__ENCRYPT_KEY=FS_KEY,
        KEFU_CHANNELS__FEISHU__API_BASE=fake, KEFU_SERVER__REPLY_RATE_PER_MINUTE="1000000",
        KEFU_SERVER__HTTP_PROCESSES=str(args.http_processes),
        KEFU_SERVER__WORKER_PROCESSES=str(args.worker_processes),
        KEFU_SERVER__PARTITIONS=str(args.partitions), **extra,
    )  # fmt: skip


def wait_replies(
    fake: str, keys: list[str] | dict[str, float], timeout: float = 120
) -> tuple[dict[str, float], list[str]]:
    """The fake platform's replies (key -> when received) once every key has one, or at the
    timeout; and the keys that have one."""
    deadline = time.monotonic() + timeout
    while True:
        got = httpx.get(f"{fake}/__replies", timeout=30).json()
        done = [k for k in keys if k in got]
        if len(done) == len(keys) or time.monotonic() > deadline:
            return got, done
        time.sleep(0.5)


def start_kefu_serve(port: int, data_dir: str, fake: str, args: argparse.Namespace, **extra: str) -> subprocess.Popen:
    """``kefu serve`` on ``port`` with its embedded Redis under ``data_dir`` and ``kefu_env``'s settings."""
    env = kefu_env(fake, data_dir, args, **extra)
    env.pop("KEFU_REDIS_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "bot.runtime.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
    )


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=3000, help="callbacks to send (half WeCom, half Feishu)")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--rate", type=float, default=0.0, help="offered callbacks per second (0: as fast as acked)")
    ap.add_argument(
        "--http-processes",
        type=int,
        default=1,
        help="kefu's server.http_processes, and the hello-world server's uvicorn --workers",
    )
    ap.add_argument("--worker-processes", type=int, default=1, help="kefu's server.worker_processes")
    ap.add_argument("--partitions", type=int, default=32, help="kefu's server.partitions")
    ap.add_argument(
        "--ack-only",
        action="store_true",
        help="stop kefu's worker processes while hello-world and the ack path are measured (the worker idle)",
    )
    args = ap.parse_args()
    if args.ack_only and not args.worker_processes:
        ap.error("--ack-only needs worker processes to stop (with none, the HTTP process does the work)")
    procs: list[subprocess.Popen] = []
    data_dir = ""
    try:
        fake_port, kefu_port, hello_port = free_port(), free_port(), free_port()
        procs.append(start_fake(fake_port))
        fake = f"http://127.0.0.1:{fake_port}"
        data_dir = tempfile.mkdtemp(prefix="kefu-bench-")
        procs.append(start_kefu_serve(kefu_port, data_dir, fake, args))
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "bench.hello_app:app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(hello_port),
                    "--log-level",
                    "warning",
                    "--no-access-log",
                    "--workers",
                    str(args.http_processes),
                ],
                cwd=ROOT,
            )
        )
        kefu = f"http://127.0.0.1:{kefu_port}"
        for url in (f"{fake}/__replies", f"{kefu}/readyz", f"http://127.0.0.1:{hello_port}/"):
            wait_http(url)

        crypto = WeChatCrypto(TOKEN, AES_KEY, CORP)
        n = args.messages
        requests = [wecom_request(i, crypto) if i % 2 == 0 else feishu_request(i) for i in range(n)]
        hello_requests = [("/hello", {}, {}, body, f"h{i}") for i, (_, _, _, body, _) in enumerate(requests)]
        warm = [wecom_request(n + i, crypto) for i in range(50)]
        asyncio.run(blast(kefu, warm, 8))  # warm-up: connections, token fetch, model pages
        # Until the warm-up is answered: worker processes still starting would use the CPU the
        # hello-world server is measured on.
        deadline = time.monotonic() + 120
        while len(httpx.get(f"{fake}/__replies", timeout=30).json()) < len(warm):
            if time.monotonic() > deadline:
                raise RuntimeError("the warm-up callbacks were not answered")
            time.sleep(0.2)

        wait_for_workers(redis.Redis(unix_socket_path=f"{data_dir}/redis/redis.sock"), args)

        hello = f"http://127.0.0.1:{hello_port}"
        stopped = list(server_processes(procs[1].pid, "worker")) if args.ack_only else []
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        hello_cpu = cpu_seconds(procs[2].pid)
        hello_acks, _, hello_seconds = asyncio.run(blast(hello, hello_requests, args.concurrency))
        hello_cpu = cpu_seconds(procs[2].pid) - hello_cpu
        paced_cpu = paced_count = 0.0
        if args.rate:
            # The same server at kefu's offered rate (ten seconds of it): a request that arrives
            # alone pays a wake-up of its own, so its CPU is compared at the same rate.
            paced = hello_requests[: int(10 * args.rate)]
            paced_cpu = cpu_seconds(procs[2].pid)
            paced_count = len(asyncio.run(blast(hello, paced, args.concurrency, args.rate))[0])
            paced_cpu = cpu_seconds(procs[2].pid) - paced_cpu
        kefu_cpu = cpu_seconds(procs[1].pid)
        worker_cpu = cpu_seconds(procs[1].pid, "worker")
        acks, sent_at, ack_seconds = asyncio.run(blast(kefu, requests, args.concurrency, args.rate))
        kefu_cpu = cpu_seconds(procs[1].pid) - kefu_cpu
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        got, done = wait_replies(fake, sent_at)
        # Up to the last reply (at most half a second late): the worker answers after the acks.
        worker_cpu = cpu_seconds(procs[1].pid, "worker") - worker_cpu
        e2e = [got[k] - sent_at[k] for k in done]
        first, last = min(sent_at.values()), max(got[k] for k in done)
        embedded = redis.Redis(unix_socket_path=f"{data_dir}/redis/redis.sock")
        stats = embedded.info("commandstats")
        memory = embedded.info("memory")["used_memory"] / 2**20
        # A client's write read by the server at once: a round trip, or part of one (one batch).
        reads = embedded.info("stats")["total_reads_processed"] / n
        log = Path(data_dir, "redis", "redis.log").read_text(errors="replace")
        rewrites = log.count("Background AOF rewrite finished")
        per_message = sorted(((k.removeprefix("cmdstat_"), v["calls"] / n) for k, v in stats.items()),
                             key=lambda kv: -kv[1])  # fmt: skip
        hello_rate, ack_rate = len(hello_acks) / hello_seconds, len(acks) / ack_seconds
        offered = f"offered at {args.rate:.0f}/s" if args.rate else "sent as fast as acked"
        http_role = "acks only" if args.worker_processes else "acks and all the work"
        if args.ack_only:
            http_role += ", worker processes stopped while acks were timed"
        lines = [
            f"machine: {os.cpu_count()} cores; generator, kefu serve, fake platform and hello server all on it",
            f"kefu serve: {args.http_processes} HTTP process(es) ({http_role}), "
            f"{args.worker_processes} worker process(es), {args.partitions} partitions",
            f"callbacks: {n} ({n // 2} WeCom encrypted XML, {n - n // 2} Feishu encrypted JSON), "
            f"concurrency {args.concurrency}, {offered}",
            f"hello-world on uvicorn:  {hello_rate:8.0f} req/s   p50 {pct(hello_acks, 0.5):.1f} ms  "
            f"p99 {pct(hello_acks, 0.99):.1f} ms   server CPU {hello_cpu / len(hello_acks) * 1e6:.0f} us/request",
            f"hello-world at {args.rate:.0f}/s offered: server CPU {paced_cpu / paced_count * 1e6:.0f} us/request"
            if args.rate
            else "",
            f"kefu ack path:           {ack_rate:8.0f} req/s   p50 {pct(acks, 0.5):.1f} ms  "
            f"p99 {pct(acks, 0.99):.1f} ms   HTTP process CPU {kefu_cpu / len(acks) * 1e6:.0f} us/request   "
            f"({ack_rate / hello_rate:.0%} of hello-world)",
            f"end to end: {len(done)}/{n} replies (the workers were stopped while the acks were timed)"
            if args.ack_only
            else f"end to end (sent -> reply at fake platform): {len(done)}/{n} replies, "
            f"{len(done) / (last - first):.0f} msg/s sustained, p50 {pct(e2e, 0.5):.0f} ms, p99 {pct(e2e, 0.99):.0f} ms",
            f"worker processes' CPU: {worker_cpu / n * 1e6:.0f} us/callback" if args.worker_processes else "",
            f"Redis at the end: {memory:.0f} MiB used; append-only file rewrites during the run: {rewrites}",
            f"Redis reads per callback (round trips of every process, shared by messages handled together): "
            f"{reads:.2f}",
            "Redis commands per callback (Lua's included): "
            + ", ".join(f"{name} {calls:.1f}" for name, calls in per_message if calls >= 0.05),
        ]
        print("\n".join(line for line in lines if line))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
        if data_dir:
            shutil.rmtree(data_dir, ignore_errors=True)  # its models and append-only file: 100 MB or more


if __name__ == "__main__":
    main()
