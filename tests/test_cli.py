"""The ``kefu`` command line, run in-process with typer's CliRunner against real files and Redis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.runtime.cli import app
from bot.settings import Settings

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

    trained = runner.invoke(app, ["train", "--data", str(tmp_path / "train.csv"), "--out", str(model)])
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
