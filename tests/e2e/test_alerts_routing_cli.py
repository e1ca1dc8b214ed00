"""What an operator learns about routing from the command line: check-config's warnings for
notices that reach nobody and route values no notice carries, and ``kefu alerts test`` sending
a sample of one kind through the real routing to a fake WeCom group robot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from bot.runtime.cli import app
from bot.runtime.settings import Settings
from tests.support.fake_platform import FakePlatform
from tests.support.fake_platform.robots import WECOM_ROBOT

OPS_KEY = "693a91f6-7a6c-4bc4-97a0-0ec2a1fa5aaa"


@pytest.fixture()
def fake() -> FakePlatform:
    with FakePlatform() as platform:
        platform.state["robots"]["wecom"].add(OPS_KEY)
        yield platform


def config(tmp_path: Path, settings: Settings, fake: FakePlatform, routes: list[dict], **alerts: object) -> Path:  # type: ignore[type-arg]
    path = tmp_path / "kefu.yaml"
    path.write_text(yaml.safe_dump({
        "redis_url": settings.redis_url, "data_dir": str(settings.data_dir),
        "alerts": {"receivers": {"ops_group": {"type": "wecom_robot", "webhook_key": OPS_KEY, "api_base": fake.base}},
                   "routes": routes, **alerts},
    }, allow_unicode=True), encoding="utf-8")  # fmt: skip
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_check_config_warns_when_ticket_notices_reach_nobody(
    tmp_path: Path, settings: Settings, fake: FakePlatform
) -> None:
    cfg = config(tmp_path, settings, fake, [{"match": {"kind": "risk"}, "receivers": ["ops_group"]}])
    code, out = run("check-config", "--config", str(cfg))
    assert code == 0 and "configuration OK" in out
    assert "warning: 工单通知没有接收人" in out and "warning: 转人工提醒没有接收人" in out
    assert "投诉风险提醒没有接收人" not in out

    cfg = config(tmp_path, settings, fake, [{"match": {"kind": "ticket"}, "receivers": ["ops_group"]}],
                 default_receivers=["ops_group"])  # fmt: skip
    assert "没有接收人" not in run("check-config", "--config", str(cfg))[1]


def test_check_config_warns_when_only_some_tickets_are_routed(
    tmp_path: Path, settings: Settings, fake: FakePlatform
) -> None:
    cfg = config(
        tmp_path, settings, fake, [{"match": {"kind": "ticket", "category": "logistics"}, "receivers": ["ops_group"]}]
    )
    out = run("check-config", "--config", str(cfg))[1]
    assert "warning: 工单通知部分没有接收人: kind ticket with channel=web" in out


def test_check_config_names_route_values_no_notice_has(tmp_path: Path, settings: Settings, fake: FakePlatform) -> None:
    cfg = config(tmp_path, settings, fake, [
        {"match": {"kind": "tickets"}, "receivers": ["ops_group"]},
        {"match": {"channel": ["wecom", "wework"], "audience": "manager"}, "receivers": ["ops_group"]},
        {"match": {"team": "logistics", "category": "after_sales"}, "receivers": ["ops_group"]},
    ])  # fmt: skip
    out = run("check-config", "--config", str(cfg))[1]
    assert "alerts.routes.0.match.kind: no notice has kind 'tickets'" in out
    assert "alerts.routes.1.match.channel: no notice has channel 'wework'" in out
    assert "alerts.routes.1.match.audience: no notice has audience 'manager'" in out
    assert "alerts.routes.2.match.team: no notice has team 'logistics'" in out  # no such team configured
    assert "match.category" not in out  # after_sales is a knowledge-base category
    code, out = run("check-config", "--config", str(config(tmp_path, settings, fake, [
        {"match": {"knd": "ticket"}, "receivers": ["ops_group"]}])))  # fmt: skip
    assert code == 2 and "alerts.routes.0.match.knd" in out  # an unknown label is an error


def test_alerts_test_sends_a_sample_ticket_through_the_routes(
    tmp_path: Path, settings: Settings, fake: FakePlatform
) -> None:
    cfg = config(tmp_path, settings, fake, [{"match": {"kind": "ticket"}, "receivers": ["ops_group"]}])
    code, out = run("alerts", "test", "--kind", "ticket", "--channel", "wecom_kf", "--config", str(cfg))
    assert code == 0, out
    assert "kind=ticket" in out and "channel=wecom_kf" in out and "-> ops_group: delivered" in out
    [call] = fake.calls(WECOM_ROBOT)
    content = call.json()["markdown"]["content"]
    assert "【测试】工单通知" in content and "wecom_kf:ke***er" in content

    code, out = run("alerts", "test", "--kind", "ticket_digest", "--json", "--config", str(cfg))
    result = json.loads(out)
    assert code == 0 and result["receivers"] == [] and result["status"] == "unrouted"
    assert len(fake.calls(WECOM_ROBOT)) == 1  # nothing sent for it
    assert "没有接收人" in run("alerts", "test", "--kind", "ticket_digest", "--config", str(cfg))[1]

    code, out = run("alerts", "test", "--kind", "handoff", "--json", "--config", str(cfg))
    handoff = json.loads(out)  # built by the hand-over alerts' own code, routed to nobody here
    assert code == 0 and handoff["kind"] == "handoff" and handoff["labels"]["kind"] == "handoff"

    code, out = run("alerts", "test", "--kind", "tickets", "--config", str(cfg))
    assert code == 2 and "--kind: expected one of risk, handoff, ticket" in out


def test_check_config_names_staff_on_a_platform_where_staff_do_not_work(
    tmp_path: Path, settings: Settings, fake: FakePlatform
) -> None:
    cfg = tmp_path / "kefu.yaml"
    cfg.write_text(
        "tickets:\n  staff:\n    wechat: {oA1: {name: 张三}}\n    wecom: {zs: {name: 张三}}\n", encoding="utf-8"
    )
    code, out = run("check-config", "--config", str(cfg))
    assert code == 2 and "tickets.staff.wechat: staff work on dingtalk, feishu, wecom, not wechat" in out
    assert "tickets.staff.wecom" not in out


def test_check_config_warns_about_a_feishu_app_without_an_encrypt_key(tmp_path: Path) -> None:
    cfg = tmp_path / "kefu.yaml"
    cfg.write_text("channels:\n  feishu: {app_id: cli_1, app_secret: s, verification_token: v}\n", encoding="utf-8")
    code, out = run("check-config", "--config", str(cfg))
    assert code == 0 and "warning: channels.feishu.encrypt_key: not set, so Feishu signs nothing" in out
    cfg.write_text("channels:\n  feishu: {app_id: cli_1, app_secret: s, verification_token: v, encrypt_key: k}\n")
    assert "encrypt_key" not in run("check-config", "--config", str(cfg))[1]
