"""The processes of ``kefu serve``: HTTP processes that only acknowledge, and worker processes.

An acknowledgement must go back within the platform's 3-5 s deadline whatever else is going on,
and one Python process runs on one core. So ``kefu serve`` (the first HTTP process) starts
``server.http_processes - 1`` more HTTP processes on the same port (SO_REUSEPORT: the kernel
spreads connections over them) and ``server.worker_processes`` copies of ``kefu worker``,
restarts one that dies (at once if it was up), and stops them when it stops. A child whose
parent vanished (SIGKILL) notices and stops by itself. With one HTTP process and no worker
processes, everything runs in one process. The embedded Redis, when there is one, is this first
process's to watch and restart (bot/redis_store.py); the children only connect to it.

Metrics: with more than one process, each writes its counters to files under
``<data_dir>/metrics`` (prometheus_client's multiprocess mode) and /metrics adds them up.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

STOP_TIMEOUT_SECONDS = 10.0
# When the CPU is short, acknowledgements (a platform deadline; a late one is delivered again)
# go before answers (they wait in the queue, in order, and lose nothing by waiting).
WORKER_NICENESS = 5
_RESTART_DELAY_SECONDS = 1.0  # for a child that died before it was up; doubles each time
_MAX_RESTART_DELAY_SECONDS = 60.0
METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclass(frozen=True, slots=True)
class Layout:
    http_processes: int
    worker_processes: int

    @property
    def single_process(self) -> bool:
        return self.http_processes == 1 and self.worker_processes == 0


def share_metrics(data_dir: Path) -> bool:
    """Switch prometheus_client to multiprocess mode for this process and its children. Each
    ``kefu serve`` counts in a directory of its own (two may share a data_dir); those of serves
    that are gone are removed. prometheus_client chooses how to count when it is first imported,
    which the command line has done by now: True means this process must start again
    (``start_again``) to count in the files too; False, that it was started again for it."""
    root = Path(data_dir).resolve() / "metrics"
    directory = root / str(os.getpid())
    if os.environ.get(METRICS_ENV) == str(directory) and directory.is_dir():
        return False
    root.mkdir(parents=True, exist_ok=True)
    for entry in root.iterdir():
        # One named after this process is an earlier one's that had its pid (a container's
        # kefu is pid 1 at every start): its counts are not ours.
        if entry.name.isdigit() and entry != directory and alive(int(entry.name)):
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    directory.mkdir()
    os.environ[METRICS_ENV] = str(directory)
    return True


def start_again() -> None:
    """Replace this process by a fresh run of its own command line: the same pid, environment
    and open descriptors, every module imported anew."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie, dead but not yet reaped by its parent, is not)."""
    stat = _proc_stat(pid)
    if stat is not None:
        return stat[0] not in "ZX"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, but alive
    return True


def parent_of(pid: int) -> int | None:
    """The parent pid of ``pid``, where Linux /proc tells (None elsewhere, or once it is gone)."""
    stat = _proc_stat(pid)
    return stat[1] if stat is not None else None


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) from /proc/<pid>/stat; the command name before them may hold anything."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[0], int(fields[1])
    except (OSError, IndexError, ValueError):
        return None


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the child sent ``sig`` when this process dies, even of SIGKILL
    (Linux's parent-death signal); None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child only calls it
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(sig))
        if os.getppid() != parent:  # the parent died before the child asked
            os.kill(os.getpid(), int(sig))

    return preexec


def listening_socket(host: str, port: int) -> socket.socket:
    """A listening socket every HTTP process of one ``kefu serve`` can bind at once."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def process_identity() -> str:
    """A name for this process's queue consumers and leases, unique across machines."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True, slots=True)
class Child:
    role: str  # "serve" (an extra HTTP process) or "worker"
    argv: list[str]


def children_for(
    layout: Layout, host: str, port: int, config_path: Path | None, log_format: str = "text"
) -> list[Child]:
    base = [sys.executable, "-m", "bot.runtime.cli"]
    tail = ["--parent-pid", str(os.getpid()), "--log-format", log_format]
    tail += ["--config", str(config_path)] if config_path else []
    http = Child("serve", [*base, "serve", "--host", host, "--port", str(port), *tail])
    # Each worker place has a name its replacements keep: one that takes over from a worker that
    # died holds its partition leases and unacknowledged messages at once, instead of waiting
    # for the leases to run out (15 s). Only one process ever fills a place (the next starts once
    # the last has exited), and the random part of this serve's name keeps it apart from other
    # machines' (containers often share a pid, sometimes a host name).
    serve_name = process_identity()
    workers = [
        Child("worker", [*base, "worker", "--consumer-name", f"{serve_name}:worker{n}", *tail])
        for n in range(layout.worker_processes)
    ]
    return [http] * (layout.http_processes - 1) + workers


class ChildProcesses:
    """Starts the children and restarts one that exits.

    Each child says when it is up (``report_ready``: settings read, Redis reached, model loaded).
    One that was up and then died (killed, out of memory) is restarted at once; one that died
    before it was up is likely to again (a bad setting, Redis unreachable), so it is restarted
    after a delay that doubles each time, up to a minute, until a replacement is up."""

    def __init__(self, children: list[Child], redis_url: str) -> None:
        self.children = children
        # Children use the Redis this process uses, embedded or not: they must never start an
        # embedded server of their own.
        self._env = dict(os.environ, KEFU_REDIS_URL=redis_url)
        self.processes: list[subprocess.Popen[bytes]] = []

    def _spawn(self, child: Child) -> tuple[subprocess.Popen[bytes], int]:
        """The process, and the read end of the pipe it reports on once it is up."""
        lower = _lower_priority if child.role == "worker" else None
        ready_read, ready_write = os.pipe()
        try:
            proc = subprocess.Popen(
                [*child.argv, "--ready-fd", str(ready_write)], env=self._env, preexec_fn=lower, pass_fds=(ready_write,)
            )
        except BaseException:
            os.close(ready_read)
            raise
        finally:
            os.close(ready_write)
        os.set_blocking(ready_read, False)
        log.info("%s process %d started", child.role, proc.pid)
        return proc, ready_read

    async def run(self) -> None:
        """Keep every child alive until cancelled; then stop them."""
        spawned = [self._spawn(child) for child in self.children]
        self.processes = [proc for proc, _ in spawned]
        pipes = [pipe for _, pipe in spawned]
        count = len(self.children)
        up = [False] * count
        delays = [_RESTART_DELAY_SECONDS] * count  # for the next death before being up
        restart_at: list[float | None] = [None] * count
        try:
            while True:
                await asyncio.sleep(0.5)
                now = time.monotonic()
                for i, proc in enumerate(self.processes):
                    up[i] = up[i] or _reported_ready(pipes[i])  # read first: a report outlives its writer
                    if proc.poll() is None:
                        continue
                    due = restart_at[i]
                    if due is None:
                        if up[i]:
                            wait, delays[i] = 0.0, _RESTART_DELAY_SECONDS
                        else:
                            wait, delays[i] = delays[i], min(delays[i] * 2, _MAX_RESTART_DELAY_SECONDS)
                        restart_at[i] = now + wait
                        log.error("%s process %d exited (code %s)%s; restarting it %s", self.children[i].role, proc.pid,
                                  proc.returncode, "" if up[i] else " before it was up",
                                  f"in {wait:.0f}s" if wait else "now")  # fmt: skip
                    elif now >= due:
                        os.close(pipes[i])
                        (self.processes[i], pipes[i]), up[i], restart_at[i] = self._spawn(self.children[i]), False, None
        finally:
            for pipe in pipes:
                os.close(pipe)
            await asyncio.shield(asyncio.to_thread(self.stop))

    def stop(self) -> None:
        """SIGTERM (they finish what is in hand and hand their partitions over), then SIGKILL."""
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for proc in self.processes:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("process %d did not stop in time; killing it", proc.pid)
                proc.kill()
                proc.wait()


def _reported_ready(pipe: int) -> bool:
    try:
        return os.read(pipe, 1) == b"1"
    except BlockingIOError:
        return False


def report_ready(fd: int | None) -> None:
    """Tell the ``kefu serve`` that started this process (``--ready-fd``) that it is up."""
    if fd is None:
        return
    with contextlib.suppress(OSError):
        os.write(fd, b"1")
    with contextlib.suppress(OSError):
        os.close(fd)


def _lower_priority() -> None:
    os.nice(WORKER_NICENESS)


async def until_orphaned(parent_pid: int) -> None:
    """Return once the parent ``kefu serve`` is gone (a SIGKILL gives it no time to stop us)."""
    while os.getppid() == parent_pid:
        await asyncio.sleep(1)
    log.warning("kefu serve (pid %d) is gone; this process stops", parent_pid)
