"""The ``kefu`` command line, run in-process with typer's CliRunner against real files and Redis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.runtime.cli import app
from bot.runtime.settings import Settings
from bot.settings import SHIPPED_FAQ as SHIPPED_KB

PARCEL = [
    "我的快递到哪了",
    "包裹到哪里了",
    "快递怎么还没到",
    "物流信息查一下",
    "快递到哪儿了呀",
    "我的包裹在哪",
    "帮我查查快递",
    "快递走到哪了",
]
REFUND = [
    "退款什么时候到账",
    "退款多久到",
    "钱怎么还没退回来",
    "退款进度查一下",
    "退的钱到哪了",
    "退款还没到账",
    "我的退款呢",
    "退款到账了吗",
]
GREET = ["你好", "在吗", "hello", "有人吗", "您好呀", "hi", "哈喽", "你好啊"]

SMALL_KB = "intents:\n" + "".join(
    f"  - name: {name}\n    category: {cat}\n    answer: {answer}\n    examples: [{', '.join(ex)}]\n"
    for name, cat, answer, ex in (
        ("where_is_parcel", "logistics", "快递在路上", PARCEL),
        ("refund_progress", "after_sales", "退款1到3天到账", REFUND),
        ("greeting", "chitchat", "您好", GREET),
    )
)


def csv_of(rows: list[tuple[str, str]]) -> str:
    return "text,intent\n" + "".join(f"{t},{i}\n" for t, i in rows)


@pytest.fixture()
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    import os

    for name in list(os.environ):
        if name.startswith("KEFU_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "data"))  # never the repository's ./data
    return CliRunner()


def test_check_config_ok(runner: CliRunner, tmp_path: Path) -> None:
    cfg = tmp_path / "kefu.yaml"
    cfg.write_text("nlu:\n  margin: 0.25\n", encoding="utf-8")
    result = runner.invoke(app, ["check-config", "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "configuration OK" in result.output
    assert "faq.yaml" in result.output
    assert "only the web channel" in result.output


def test_check_config_bad_key(runner: CliRunner, tmp_path: Path) -> None:
    cfg = tmp_path / "kefu.yaml"
    cfg.write_text("server:\n  prot: 9000\n", encoding="utf-8")
    result = runner.invoke(app, ["check-config", "--config", str(cfg)])
    assert result.exit_code == 2
    assert "server.prot" in result.output and "unknown key" in result.output
    assert "Traceback" not in result.output


def test_check_config_broken_knowledge_base(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "faq.yaml").write_text("intents: [", encoding="utf-8")
    cfg = tmp_path / "kefu.yaml"
    cfg.write_text("knowledge_base: faq.yaml\n", encoding="utf-8")
    result = runner.invoke(app, ["check-config", "--config", str(cfg)])
    assert result.exit_code == 2
    assert "knowledge_base:" in result.output and "line" in result.output


def test_check_config_bad_aes_key_length(runner: CliRunner, tmp_path: Path) -> None:
    cfg = tmp_path / "kefu.yaml"
    cfg.write_text(
        "channels:\n  wecom:\n    corp_id: ww1\n    token: t\n    encoding_aes_key: short\n", encoding="utf-8"
    )
    result = runner.invoke(app, ["check-config", "--config", str(cfg)])
    assert result.exit_code == 2
    assert "channels.wecom.encoding_aes_key: must be 43 characters, got 5" in result.output
    assert "short" not in result.output.replace("must be 43", "")


def test_train_on_csv_then_eval_json(runner: CliRunner, tmp_path: Path) -> None:
    rows = [(t, "where_is_parcel") for t in PARCEL[:6]] + [(t, "refund_progress") for t in REFUND[:6]]
    rows += [(t, "greeting") for t in GREET[:6]]
    (tmp_path / "train.csv").write_text(csv_of(rows), encoding="utf-8")
    held = [
        (PARCEL[6], "where_is_parcel"),
        (PARCEL[7], "where_is_parcel"),
        (REFUND[6], "refund_progress"),
        (REFUND[7], "refund_progress"),
        (GREET[6], "greeting"),
        (GREET[7], "greeting"),
    ]
    (tmp_path / "heldout.csv").write_text(csv_of(held), encoding="utf-8")
    model = tmp_path / "out" / "intent.bin"

    trained = runner.invoke(app, ["train", "--data", str(tmp_path / "train.csv"), "--out", str(model), "--quick"])
    assert trained.exit_code == 0, trained.output
    assert "training on 18 examples, 3 intents" in trained.output
    assert model.exists()

    result = runner.invoke(app, ["eval", "--data", str(tmp_path / "heldout.csv"), "--model", str(model), "--json"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1
    report = json.loads(lines[0])
    assert report["n"] == 6
    assert 0.0 <= report["accuracy"] <= 1.0 and 0.0 <= report["macro_f1"] <= 1.0
    assert report["accuracy"] >= 0.5  # held-out paraphrases of a well-separated tiny set
    assert {s["intent"] for s in report["per_intent"]} == {"where_is_parcel", "refund_progress", "greeting"}


def test_train_searches_the_settings_and_eval_shows_them(runner: CliRunner, tmp_path: Path) -> None:
    write(tmp_path / "kb.yaml", SMALL_KB)
    model = tmp_path / "m.bin"
    # The least budget: the two candidates that always run, the fixed settings and untuned fastText.
    trained = runner.invoke(
        app, ["train", "--data", str(tmp_path / "kb.yaml"), "--out", str(model), "--budget", "0.01"]
    )
    assert trained.exit_code == 0, trained.output
    assert "3-fold cross-validation, seed 42" in trained.output and "chosen (2 of " in trained.output
    tuning = json.loads((tmp_path / "m.bin.json").read_text(encoding="utf-8"))["tuning"]
    assert tuning["candidates_tried"] == 2 and set(tuning["baselines"]) == {"fixed", "untuned_fasttext"}
    held = write(tmp_path / "held.csv", csv_of([(PARCEL[0], "where_is_parcel"), (GREET[0], "greeting")]))
    shown = runner.invoke(app, ["eval", "--data", str(held), "--model", str(model)])
    assert shown.exit_code == 0, shown.output
    assert f"trained with: epoch={tuning['settings']['epoch']} " in shown.output
    for extra in (["--quick", "--budget", "5"], ["--task", "risk", "--budget", "5"], ["--budget", "0"]):
        one_error(runner.invoke(app, ["train", "--data", str(held), *extra]), 2, "--budget")


def test_eval_on_knowledge_base_cross_validates(runner: CliRunner, tmp_path: Path) -> None:
    kb = tmp_path / "faq.yaml"
    kb.write_text(SMALL_KB, encoding="utf-8")
    result = runner.invoke(app, ["eval", "--data", str(kb), "--folds", "4"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "4-fold cross-validation" in out
    assert "queries: 24" in out
    assert "intent" in out and "prec" in out and "recall" in out and "most confused with" in out
    for name in ("where_is_parcel", "refund_progress", "greeting"):
        assert name in out
    assert "threshold sweep" in out
    assert "folds: 4" in out


def test_eval_with_missing_model_is_a_clear_error(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "heldout.csv").write_text(csv_of([("你好", "greeting")]), encoding="utf-8")
    result = runner.invoke(
        app, ["eval", "--data", str(tmp_path / "heldout.csv"), "--model", str(tmp_path / "none.bin")]
    )
    assert result.exit_code == 2
    assert "does not exist" in result.output and "kefu train" in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)  # a clean exit, not an uncaught error


def test_eval_with_bad_csv_header_and_bad_task(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("question,answer\n你好,greeting\n", encoding="utf-8")
    result = runner.invoke(app, ["eval", "--data", str(tmp_path / "bad.csv")])
    assert result.exit_code == 2
    assert "expected the header 'text,intent'" in result.output
    result = runner.invoke(app, ["eval", "--data", str(tmp_path / "bad.csv"), "--task", "sentiment"])
    assert result.exit_code == 2 and "--task must be one of intent, risk" in result.output


def test_train_with_broken_data_is_a_clear_error(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "kb.yaml").write_text("intents:\n  - name: x\n    category: nope\n", encoding="utf-8")
    result = runner.invoke(app, ["train", "--data", str(tmp_path / "kb.yaml"), "--out", str(tmp_path / "m.bin")])
    assert result.exit_code == 2
    assert "category" in result.output and "Traceback" not in result.output


def test_ask_runs_the_full_pipeline(runner: CliRunner, settings: Settings) -> None:
    env = {"KEFU_DATA_DIR": str(settings.data_dir), "KEFU_REDIS_URL": settings.redis_url}
    result = runner.invoke(app, ["ask", "我的快递到哪了", "--user", "cli-test"], env=env)
    assert result.exit_code == 0, result.output
    assert "reply:" in result.output
    assert "intent:     where_is_parcel" in result.output
    assert "handoff:    False" in result.output

    result = runner.invoke(app, ["ask", "我的快递到哪了", "--json", "--user", "cli-test2"], env=env)
    assert result.exit_code == 0, result.output
    reply = json.loads(result.stdout)
    assert reply["intent"] == "where_is_parcel" and reply["action"] == "answer"
    assert reply["reply"] and reply["handoff"] is False


def test_tickets_list_show_and_close_from_the_shell(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Three contacts in a day open a ticket; the shell lists, shows and closes it."""
    import asyncio
    import json as _json

    from typer.testing import CliRunner

    from bot.message import InboundMessage
    from bot.runtime import Runtime
    from bot.runtime.cli import app

    async def three_contacts() -> None:
        runtime = Runtime.start(settings)
        try:
            for hour in (0, 2, 4):  # sessions more than 30 minutes apart
                now = 1_795_000_000.0 + hour * 3600
                msg = InboundMessage("wecom", "default", "zhangsan", "zhangsan", "我的退款怎么还没到", f"m{hour}", now)
                await runtime.pipeline.p.contacts.record(msg, "refund_progress", now)
        finally:
            await runtime.close()

    asyncio.run(three_contacts())
    monkeypatch.setenv("KEFU_REDIS_URL", settings.redis_url)
    monkeypatch.setenv("KEFU_DATA_DIR", str(settings.data_dir))
    runner = CliRunner()
    listed = runner.invoke(app, ["tickets", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    tickets = _json.loads(listed.output)
    assert len(tickets) == 1
    ticket = tickets[0]
    assert {"id", "state", "customer", "reason", "created_at"} <= set(ticket)
    assert ticket["state"] == "open" and "zhangsan" not in ticket["customer"]  # masked
    shown = runner.invoke(app, ["tickets", "show", ticket["id"], "--json"])
    detail = _json.loads(shown.output)
    assert shown.exit_code == 0 and {k: detail[k] for k in ticket} == ticket  # the same names, the same things
    assert len(detail["timeline"]) == 3 and "zhangsan" not in shown.output
    closed = runner.invoke(app, ["tickets", "close", ticket["id"], "--reason", "已退款", "--actor", "ops"])
    assert closed.exit_code == 0, closed.output
    again = runner.invoke(app, ["tickets", "close", ticket["id"], "--reason", "x"])
    assert again.exit_code == 1  # a closed ticket cannot be closed twice
    assert _json.loads(runner.invoke(app, ["tickets", "list", "--json"]).output)[0]["state"] == "closed"
    missing = runner.invoke(app, ["tickets", "show", "T-20991231-9999"])
    assert missing.exit_code == 1 and "Traceback" not in missing.output


# -- errors: one line (at most a hint after it), the right exit code, never a traceback ----------


def one_error(result, code: int, *needles: str) -> str:  # type: ignore[no-untyped-def]
    """The error line of a failed run, after checking the conventions of docs/cli.md."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # a clean exit, not a crash
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2 and lines[0].startswith("error: "), result.stderr
    assert len(lines) == 1 or lines[1].startswith("hint: "), result.stderr
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_binary_and_deeply_nested_config_files(runner: CliRunner, tmp_path: Path) -> None:
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(bytes(range(128, 256)) * 8)
    one_error(runner.invoke(app, ["check-config", "-c", str(binary)]), 2, str(binary), "not UTF-8")
    deep = write(tmp_path / "deep.yaml", "".join(" " * i + "k:\n" for i in range(5000)))
    one_error(runner.invoke(app, ["check-config", "-c", str(deep)]), 2, str(deep), "nested too deeply")
    brackets = write(tmp_path / "brackets.yaml", "a: " + "[" * 5000 + "\n")
    one_error(runner.invoke(app, ["serve", "-c", str(brackets)]), 2, "nested too deeply")


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("http://ops:hunter2@localhost:6379/0", "scheme 'http' is not supported"),
        ("localhost:6379", "scheme '(none)' is not supported"),
        ("redis://:hunter2@localhost:port/0", "not a usable Redis URL"),
        ("unix://", "needs the socket's path"),
    ],
)
def test_unusable_redis_url_fails_check_config_and_serve(
    runner: CliRunner, tmp_path: Path, url: str, needle: str
) -> None:
    cfg = write(tmp_path / "kefu.yaml", f"redis_url: '{url}'\n")
    for command in ("check-config", "serve"):
        line = one_error(runner.invoke(app, [command, "-c", str(cfg)]), 2, "redis_url:", needle)
        assert "hunter2" not in line  # a URL may carry a password: never echoed


def test_supported_redis_url_schemes_pass(runner: CliRunner, tmp_path: Path) -> None:
    for url in ("redis://localhost:6379/0", "rediss://:pw@cache.example:6380", "unix:///run/redis.sock?db=2"):
        cfg = write(tmp_path / "kefu.yaml", f"redis_url: '{url}'\n")
        assert runner.invoke(app, ["check-config", "-c", str(cfg)]).exit_code == 0


def test_data_dir_that_is_a_file(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KEFU_DATA_DIR")
    a_file = write(tmp_path / "a-file", "")
    cfg = write(tmp_path / "kefu.yaml", f"data_dir: {a_file}\n")
    for command in ("check-config", "serve", "worker"):
        one_error(runner.invoke(app, [command, "-c", str(cfg)]), 2, "data_dir:", "is a file")
    below = write(tmp_path / "below.yaml", f"data_dir: {a_file}/models\n")
    one_error(runner.invoke(app, ["check-config", "-c", str(below)]), 2, "data_dir:", "cannot create")


def test_undecodable_knowledge_base_stops_serve_as_check_config_says(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "faq.yaml").write_bytes(b"\xff\xfe" + "intents: []".encode("utf-16-le"))
    cfg = write(tmp_path / "kefu.yaml", "knowledge_base: faq.yaml\n")
    for command in ("check-config", "serve"):
        one_error(runner.invoke(app, [command, "-c", str(cfg)]), 2, "knowledge_base:", "faq.yaml", "UTF-8")


@pytest.mark.parametrize(
    ("key", "needle"),
    [
        ("short", "must be 43 characters, got 5"),
        ("!" * 43, "must be 43 base64 characters"),  # the SDK took its length, then failed an assert
    ],
)
@pytest.mark.parametrize("platform", ["wecom", "wechat"])
def test_malformed_encoding_aes_key_stops_serve_as_check_config_says(
    runner: CliRunner, tmp_path: Path, platform: str, key: str, needle: str
) -> None:
    ids = {"corp_id": "ww1", "secret": "s"} if platform == "wecom" else {"app_id": "wx1", "app_secret": "s"}
    app_keys = {**ids, "token": "t", "encoding_aes_key": key}
    cfg = write(tmp_path / "kefu.yaml", json.dumps({"channels": {platform: {"apps": {"shop": app_keys}}}}))
    for command in ("check-config", "serve"):
        line = one_error(runner.invoke(app, [command, "-c", str(cfg)]), 2, needle)
        assert f"channels.{platform}.apps.shop.encoding_aes_key:" in line
        assert key not in line.replace("must be 43", "")


@pytest.mark.parametrize(
    ("channel", "given", "missing"),
    [
        ("wecom", {"corp_id": "ww1", "token": "t", "secret": "s"}, "encoding_aes_key"),
        ("wechat", {"app_id": "wx1", "token": "t"}, "app_secret"),
        ("dingtalk", {"app_key": "ding1"}, "app_secret"),
        ("feishu", {"app_id": "cli_1", "app_secret": "s"}, "verification_token"),
        ("feishu", {"app_id": "cli_1", "mode": "long_connection"}, "app_secret"),
    ],
)
def test_half_configured_channel_names_the_missing_keys(
    runner: CliRunner, tmp_path: Path, channel: str, given: dict[str, str], missing: str
) -> None:
    fields = "".join(f"    {k}: {v}\n" for k, v in given.items())
    cfg = write(tmp_path / "kefu.yaml", f"channels:\n  {channel}:\n{fields}")
    line = one_error(runner.invoke(app, ["check-config", "-c", str(cfg)]), 2, f"channels.{channel}:", missing)
    assert "required" in line


def test_unreachable_redis_is_a_runtime_error(runner: CliRunner) -> None:
    from tests.support.serving import free_port

    env = {"KEFU_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}  # nothing listens there
    for args in (["ask", "你好"], ["tickets", "list"], ["dead-letters", "list"], ["dead-letters", "replay"]):
        result = runner.invoke(app, args, env=env)
        one_error(result, 1, "cannot reach Redis")
        assert result.stderr.splitlines()[1].startswith("hint: ") and "redis_url" in result.stderr


def test_flags_are_checked_like_config_keys(runner: CliRunner, tmp_path: Path) -> None:
    for port in ("99999", "0", "-1", "http"):
        one_error(runner.invoke(app, ["serve", "--port", port]), 2, "--port")
    for folds in ("0", "-1", "1"):
        one_error(runner.invoke(app, ["eval", "--data", str(SHIPPED_KB), "--folds", folds]), 2, "--folds")
    one_error(runner.invoke(app, ["tickets", "list", "--state", "bogus"]), 2, "--state", "'bogus'", "open")
    one_error(runner.invoke(app, ["no-such-command"]), 2, "no-such-command")
    one_error(runner.invoke(app, ["--bogus"]), 2, "--bogus")


def test_train_checks_out_before_training(runner: CliRunner, tmp_path: Path) -> None:
    rows = [(t, "where_is_parcel") for t in PARCEL] + [(t, "greeting") for t in GREET]
    data = write(tmp_path / "train.csv", csv_of(rows))
    for out, needle in (("/proc/nope/m.bin", "cannot create /proc/nope"), (str(tmp_path), "is a directory")):
        for task in ("intent", "risk"):
            result = runner.invoke(app, ["train", "--task", task, "--data", str(data), "--out", out])
            one_error(result, 2, "--out:", needle)
            assert "training on" not in result.output and "trained" not in result.output


def test_csv_field_longer_than_the_csv_module_default(runner: CliRunner, tmp_path: Path) -> None:
    long_text = "我的快递到哪了" * 20_000  # 140,000 characters in one field
    rows = [(t, "where_is_parcel") for t in PARCEL] + [(t, "greeting") for t in GREET]
    rows.append((long_text, "where_is_parcel"))
    data = write(tmp_path / "train.csv", csv_of(rows))
    model = tmp_path / "m.bin"
    trained = runner.invoke(app, ["train", "--data", str(data), "--out", str(model), "--quick"])
    assert trained.exit_code == 0, trained.output
    evaluated = runner.invoke(app, ["eval", "--data", str(data), "--model", str(model), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["n"] == len(rows)

    from alerts.risk.dataset import load_risk_csv

    risk = write(tmp_path / "risk.csv", f"text,label\n{long_text},1\n好的,0\n")
    assert [len(r.text) for r in load_risk_csv(risk)] == [len(long_text), 2]


# -- dead letters of every queue -----------------------------------------------------------------


def test_parked_inbox_messages_are_listed_and_replayed(runner: CliRunner, settings: Settings) -> None:
    """A customer message whose handling raised (as a non-numeric AgentID did in the WeCom
    sender) is parked by the queue; the shell shows it as an inbox dead letter and replays it."""
    import asyncio

    from bot.gateway import Gateway
    from bot.message import InboundMessage
    from bot.queue import LeasedConsumer, StreamQueue
    from bot.redis_store import Keys, connected

    env = {"KEFU_DATA_DIR": str(settings.data_dir), "KEFU_REDIS_URL": settings.redis_url}
    message = InboundMessage(
        "wecom", "default", "zhangsan", "zhangsan", "我的快递到哪了", "m-agent", 1_795_000_000.0,
        reply_route={"touser": "zhangsan", "agent_id": "abc"},
    )  # fmt: skip
    handled: list[bytes] = []

    async def consume_until(count: int, fail: bool) -> None:
        async with connected(settings.redis_url, settings.data_dir) as redis:
            keys = Keys(settings.key_prefix)
            inbox = StreamQueue(redis, keys, "inbox", settings.server.partitions)
            if not handled:
                await Gateway(inbox, StreamQueue(redis, keys, "tasks", 4)).enqueue(message)

            async def handler(payload: bytes) -> None:
                handled.append(payload)
                if fail:
                    raise ValueError("invalid literal for int() with base 10: 'abc'")

            task = asyncio.create_task(LeasedConsumer(inbox, handler, identity="t", lease_ms=1000).run())
            while len(handled) < count or (fail and not await redis.llen(inbox.dead_key)):
                await asyncio.sleep(0.05)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(asyncio.wait_for(consume_until(1, fail=True), 20))
    listed = runner.invoke(app, ["dead-letters", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    [entry] = json.loads(listed.stdout)
    assert entry["source"] == "inbox" and entry["m"]["message_id"] == "m-agent"
    assert "ValueError" in entry["error"] and "'abc'" in entry["error"]
    text = runner.invoke(app, ["dead-letters", "list"], env=env).stdout
    assert text.startswith("inbox   wecom/default") and "我的快递到哪了" in text

    replayed = runner.invoke(app, ["dead-letters", "replay"], env=env)
    assert replayed.exit_code == 0 and "1 message(s) queued again" in replayed.stdout
    assert runner.invoke(app, ["dead-letters", "list"], env=env).stdout.strip() == "no dead letters"
    asyncio.run(asyncio.wait_for(consume_until(2, fail=False), 20))  # the cause fixed: handled again
    assert json.loads(handled[1]) == json.loads(message.to_json())
    assert runner.invoke(app, ["dead-letters", "list"], env=env).stdout.strip() == "no dead letters"


def test_errors_from_the_installed_command_have_no_traceback(tmp_path: Path) -> None:
    """The real ``kefu`` process: stderr is the error line and hint, nothing else."""
    import os
    import subprocess
    import sys

    from tests.support.serving import free_port

    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    env.update(KEFU_DATA_DIR=str(tmp_path / "data"), KEFU_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(bytes(range(128, 256)))
    for args, code in ((["tickets", "list"], 1), (["check-config", "-c", str(binary)], 2)):
        run = subprocess.run(
            [sys.executable, "-m", "bot.runtime.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert run.returncode == code, run.stderr
        lines = run.stderr.strip().splitlines()
        assert lines[0].startswith("error: ") and len(lines) <= 2 and "Traceback" not in run.stderr, run.stderr
