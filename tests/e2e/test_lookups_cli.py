"""``kefu lookup``, ``kefu demo-shop`` and the connector checks of ``kefu check-config``, against
the demo shop and a fake 快递100 served on 127.0.0.1, with the tests' Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.shop.demo import create_demo_app, demo_config
from bot.runtime.cli import app
from tests.support.lookup_servers import KD_CUSTOMER, KD_KEY, FakeKuaidi100, served_date, serving
from tests.support.serving import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    for name in list(os.environ):
        if name.startswith("KEFU_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "data"))
    return CliRunner()


@pytest.fixture(scope="module")
def demo_base() -> Iterator[str]:
    with serving(create_demo_app()) as base:
        yield base


def config_file(tmp_path: Path, redis_url: str, text: str) -> str:
    path = tmp_path / "kefu.yaml"
    path.write_text(f"redis_url: {redis_url}\n{text}", encoding="utf-8")
    return str(path)


def test_lookup_order_as_text_and_json(runner: CliRunner, tmp_path: Path, redis_clean: str, demo_base: str) -> None:
    cfg = config_file(tmp_path, redis_clean, demo_config(demo_base))
    result = runner.invoke(app, ["lookup", "order", "DD202406080003", "--customer", "web:c1", "--config", cfg])
    assert result.exit_code == 0, result.output
    assert "shipped" in result.output and "SF1234567890123" in result.output and "AJ1-CHI-42" in result.output
    result = runner.invoke(app, ["lookup", "order", "DD202405200007", "--customer", "web:c1", "--json", "-c", cfg])
    assert result.exit_code == 0, result.output
    order = json.loads(result.output)
    assert order["status"] == "refunding" and order["refund"] == {
        "status": "approved", "amount": "699.00", "updated_at": served_date("2024-06-09T16:45:00+08:00").isoformat()
    }  # fmt: skip
    assert order["items"] == [{"name": "Nike Dunk Low 熊猫 40码", "sku": "DUNK-PANDA-40", "quantity": 1}]


def test_ask_is_the_web_customer_with_their_orders(
    runner: CliRunner, tmp_path: Path, redis_clean: str, demo_base: str
) -> None:
    """``kefu ask --user c2`` is ``web:c2`` towards the shop, as ``/api/chat`` is: the demo's c2 has one order."""
    cfg = config_file(tmp_path, redis_clean, demo_config(demo_base))
    result = runner.invoke(app, ["ask", "我的快递到哪了", "--user", "c2", "--json", "--config", cfg])
    assert result.exit_code == 0, result.output
    assert "JT0001234567890" in json.loads(result.stdout)["reply"], result.output


def test_lookup_order_errors(runner: CliRunner, tmp_path: Path, redis_clean: str, demo_base: str) -> None:
    cfg = config_file(tmp_path, redis_clean, demo_config(demo_base))
    result = runner.invoke(app, ["lookup", "order", "DD202406070009", "--customer", "web:c1", "-c", cfg])
    assert result.exit_code == 1 and "belongs to another customer" in result.output
    result = runner.invoke(app, ["lookup", "order", "DD404", "--customer", "web:c1", "-c", cfg])
    assert result.exit_code == 1 and "order DD404 not found" in result.output
    bad = config_file(tmp_path, redis_clean, demo_config(demo_base).replace("secret: ", "secret: x"))
    result = runner.invoke(app, ["lookup", "order", "DD404", "-c", bad])
    assert result.exit_code == 1 and "unavailable (auth)" in result.output
    off = config_file(tmp_path, redis_clean, "")
    result = runner.invoke(app, ["lookup", "order", "DD404", "-c", off])
    assert result.exit_code == 2 and "the shop is not configured" in result.output
    result = runner.invoke(app, ["lookup", "parcel", "SF1234567890123", "-c", off])
    assert result.exit_code == 2 and "parcel tracking is not configured" in result.output


def test_lookup_parcel_through_the_shop(runner: CliRunner, tmp_path: Path, redis_clean: str, demo_base: str) -> None:
    cfg = config_file(tmp_path, redis_clean, demo_config(demo_base))
    result = runner.invoke(app, ["lookup", "parcel", "SF1234567890123", "-c", cfg])
    assert result.exit_code == 0, result.output
    assert "in_transit 在途" in result.output and "【上海市】快件已到达" in result.output
    result = runner.invoke(app, ["lookup", "parcel", "75312345678901", "--json", "-c", cfg])
    assert json.loads(result.output)["state"] == "signed"


def test_lookup_parcel_through_kuaidi100(runner: CliRunner, tmp_path: Path, redis_clean: str) -> None:
    fake = FakeKuaidi100()
    with serving(fake.app) as base:
        cfg = config_file(
            tmp_path, redis_clean, f"logistics:\n  customer: {KD_CUSTOMER}\n  key: {KD_KEY}\n  api_base: {base}\n"
        )
        result = runner.invoke(app, ["lookup", "parcel", "SF1234567890123", "--phone-tail", "1234", "-c", cfg])
        assert result.exit_code == 0, result.output
        assert "out_for_delivery 派件" in result.output
        result = runner.invoke(app, ["lookup", "parcel", "9988776655", "-c", cfg])
        assert result.exit_code == 1 and "pass --company CODE" in result.output
        result = runner.invoke(app, ["lookup", "parcel", "9988776655", "--company", "yunda", "-c", cfg])
        assert result.exit_code == 1 and "no trace for it yet" in result.output
    assert [p["com"] for p in fake.params] == ["shunfeng", "yunda"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("shop:\n  api_base: https://oms.example.com/kefu\n  app_key: k\n", "shop.secret: required"),
        ("logistics:\n  provider: shop\n", "logistics.provider: 'shop'"),
        ("logistics:\n  customer: C\n", "logistics.key: required"),
        ("shop:\n  api_base: ftp://oms.example.com\n", "shop.api_base"),
        ("logistics:\n  provider: sf\n", "logistics.provider"),
        ("shop:\n  timeout_seconds: 0\n", "shop.timeout_seconds"),
    ],
)
def test_check_config_names_a_bad_connector_setting(runner: CliRunner, tmp_path: Path, text: str, problem: str) -> None:
    cfg = tmp_path / "kefu.yaml"
    cfg.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["check-config", "--config", str(cfg)])
    assert result.exit_code == 2 and problem in result.output, result.output


def test_demo_shop_walk_through(runner: CliRunner, tmp_path: Path, redis_clean: str) -> None:
    """``kefu demo-shop`` prints settings that, pasted into a config file, make lookups work."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.runtime.cli", "demo-shop", "--port", str(port)],
        stdout=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        printed = []
        while not any(line.startswith("then try") for line in printed):
            line = proc.stdout.readline()
            assert line, "kefu demo-shop exited early"
            printed.append(line)
        pasted = "".join(line for line in printed if line.startswith(("shop:", "logistics:", "  ")))
        cfg = config_file(tmp_path, redis_clean, pasted)
        deadline = time.monotonic() + 20
        while True:
            result = runner.invoke(app, ["lookup", "order", "DD202406080003", "--customer", "web:c1", "-c", cfg])
            if result.exit_code == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)  # uvicorn is still starting
        assert result.exit_code == 0, result.output
        assert "shipped" in result.output
    finally:
        proc.terminate()
        proc.wait(timeout=10)
