"""`kefu serve --log-format json`: every line of every process one JSON object, the message id on
the lines logged while a message is handled, and nothing the customer wrote or is."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import signal
from pathlib import Path

import httpx
import pytest

from bot.logs import JsonFormatter, handling, log_handler
from tests.support.callbacks import AES_KEY, CORP, SEND, TOKEN, wecom_callback
from tests.support.fake_platform import FakePlatform
from tests.support.serving import free_port, start_serve, wait_until

PHONE = "13812345678"
SENDER = "zhangsan_0417"


def test_a_record_inside_handling_names_the_message() -> None:
    record = logging.LogRecord("bot.x", logging.WARNING, __file__, 1, "send %s failed", ("wecom",), None)
    record.message_id = "m-1"
    entry = json.loads(JsonFormatter().format(record))
    assert entry.keys() == {"time", "level", "logger", "message", "message_id"}
    assert (entry["level"], entry["logger"], entry["message"], entry["message_id"]) == (
        "WARNING", "bot.x", "send wecom failed", "m-1"
    )  # fmt: skip


def test_handling_sets_the_id_for_its_block_only() -> None:
    out = io.StringIO()
    log = logging.getLogger("kefu.test.handling")
    log.addHandler(log_handler("json", out))
    log.setLevel(logging.INFO)
    with handling("abc"):
        log.info("inside")
    log.info("outside")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(e["message"], e.get("message_id")) for e in lines] == [("inside", "abc"), ("outside", None)]


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="xml"):
        log_handler("xml")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="runs kefu serve's process tree (Linux)")
def test_serve_logs_json_with_message_ids_and_no_personal_data(tmp_path: Path, trained_model_dir: Path) -> None:
    data_dir = tmp_path / "data"  # hard links: kefu replaces model files, never writes into them
    shutil.copytree(trained_model_dir, data_dir, copy_function=os.link)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_file = tmp_path / "serve.log"
    with FakePlatform() as fake:
        proc = start_serve(
            port, log_file, "--log-format", "json",
            KEFU_DATA_DIR=str(data_dir), KEFU_LOG_LEVEL="INFO",
            KEFU_SERVER__HTTP_PROCESSES="2", KEFU_SERVER__WORKER_PROCESSES="1",
            KEFU_CHANNELS__WECOM__CORP_ID=CORP, KEFU_CHANNELS__WECOM__SECRET="s3cret",
            KEFU_CHANNELS__WECOM__TOKEN=TOKEN, KEFU_CHANNELS__WECOM__ENCODING_AES_KEY=AES_KEY,
            KEFU_CHANNELS__WECOM__API_BASE=fake.base,
        )  # fmt: skip
        try:

            def ready() -> bool:
                try:
                    return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
                except httpx.TransportError:
                    return False

            wait_until(ready, 60)
            fake.fail_next(SEND, 1)  # the first reply fails: the retry is logged while handling
            query, body = wecom_callback(f"我的手机{PHONE}，快递到哪了", "8801", sender=SENDER)
            assert httpx.post(f"{base}/webhooks/wecom", params=query, content=body).status_code == 200
            fake.wait_for(SEND, 2, timeout=30)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    text = log_file.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line, of every process, is JSON
    assert all({"time", "level", "logger", "message"} <= e.keys() for e in entries)
    about_it = [e for e in entries if "failed" in e["message"] and e["logger"] == "bot.outbox"]
    assert about_it and all(e.get("message_id") == "8801" for e in about_it), entries
    assert any(e["logger"].startswith("uvicorn") or e["logger"] == "bot.processes" for e in entries)
    assert PHONE not in text and SENDER not in text and "快递到哪了" not in text
