"""Conversations that answer from the shop's systems, end to end: the real bot served on
127.0.0.1 (HTTP, workers, Redis, model) asking the demo shop, itself served on 127.0.0.1 behind
scripted misbehaviours, over ``/api/chat``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from adapters.logistics.settings import LogisticsSettings
from adapters.shop.settings import ShopSettings
from bot.nlu.normalize import order_numbers
from bot.runtime.settings import Settings
from tests.support.lookup_servers import APP_KEY, SECRET, Scripted, scripted_demo_shop, shown_day
from tests.support.serving import served


@pytest.fixture(scope="module")
def shop_server() -> Iterator[tuple[str, Scripted]]:
    with scripted_demo_shop() as served_shop:
        yield served_shop


@pytest.fixture()
def bot(settings: Settings, shop_server: tuple[str, Scripted]) -> Iterator[tuple[httpx.Client, Scripted]]:
    base, scripted = shop_server
    scripted.script.clear()
    with served(with_shop(settings, base)) as (url, _runtime), httpx.Client(base_url=url, timeout=30) as client:
        yield client, scripted


def with_shop(settings: Settings, base: str) -> Settings:
    """The settings pointing at the demo shop, with a short timeout so that a stalled shop is quick."""
    shop = ShopSettings(api_base=base, app_key=APP_KEY, secret=SECRET, timeout_seconds=1.0)
    return settings.model_copy(update={"shop": shop, "logistics": LogisticsSettings(provider="shop")})


def say(client: httpx.Client, user: str, text: str) -> str:
    r = client.post("/api/chat", json={"user": user, "text": text})
    assert r.status_code == 200, r.text
    return r.json()["reply"]


def test_one_recent_order_gets_the_trace(bot: tuple[httpx.Client, Scripted]) -> None:
    client, _ = bot
    reply = say(client, "c2", "我的快递到哪了")
    assert "极兔速递" in reply and "JT0001234567890" in reply and "快件派送中" in reply, reply
    assert "13800138000" not in reply and "8000" in reply, reply  # the courier's phone, masked


def test_several_orders_are_offered_then_picked_by_number(bot: tuple[httpx.Client, Scripted]) -> None:
    client, _ = bot
    offered = say(client, "c1", "我的快递到哪了")
    assert "1. " in offered and "2. Air Jordan" in offered, offered
    reply = say(client, "c1", "2")
    assert "SF1234567890123" in reply and "上海浦东中转场" in reply and "顺丰" in reply, reply
    say(client, "c1", "我的快递到哪了")
    by_words = say(client, "c1", "有运动袜的那个")  # the delivered one, by its item words
    assert "75312345678901" in by_words and "已签收" in by_words, by_words
    assert "西湖区*** 菜鸟驿站" in by_words and "文三路" not in by_words, by_words  # the address, masked


def test_after_a_pick_the_customer_goes_through_the_other_offered_orders(bot: tuple[httpx.Client, Scripted]) -> None:
    client, _ = bot
    say(client, "c1", "我的快递到哪了")  # 1. Dunk, paid; 2. Air Jordan, shipped; 3. Dunk and socks, delivered
    assert "SF1234567890123" in say(client, "c1", "2")
    first = say(client, "c1", "那第一个呢")  # not asked again: the first of the orders offered
    assert "DD202406090004" in first and "付款" in first, first
    third = client.post("/api/chat", json={"user": "c1", "text": "第三个呢"}).json()
    assert "75312345678901" in third["reply"], third
    # Replies to the bot's own question are no discontent, however the emotion model reads "呢"
    assert "近几轮对话持续不满" not in third["reasons"], third
    assert "近几轮对话持续不满" not in client.post("/api/chat", json={"user": "c1", "text": "好的"}).json()["reasons"]
    say(client, "c1", "我的dunk到哪了")  # two Dunk orders offered
    say(client, "c1", "1")
    other = say(client, "c1", "另一个呢")  # of two, the one not picked
    assert "75312345678901" in other, other
    say(client, "c1", "谢谢")  # the offer ends with a message that picks nothing
    late = say(client, "c1", "2")
    assert "DD2024" not in late, late


def test_offered_orders_picked_by_initials_narrowed_by_words_then_by_recency(
    bot: tuple[httpx.Client, Scripted],
) -> None:
    client, _ = bot
    say(client, "c1", "我的快递到哪了")
    by_initials = say(client, "c1", "AJ那双")  # Air Jordan
    assert "SF1234567890123" in by_initials, by_initials
    say(client, "c1", "我的快递到哪了")
    narrowed = say(client, "c1", "熊猫那双呢")  # two of the three offered are pandas: those two again
    lines = [line for line in narrowed.splitlines() if line[:1].isdigit()]
    assert len(lines) == 2 and all("熊猫" in line for line in lines), narrowed
    newest = say(client, "c1", "最新那个")
    assert "DD202406090004" in newest and f"{shown_day('2024-06-09')} 21:40" in newest, newest
    say(client, "c1", "我的快递到哪了")
    stock = say(client, "c1", "AJ1 44码有货吗")  # names an offered order's item, but asks anew
    assert "44码" in stock and "有货" in stock, stock


def test_asked_then_a_bare_number_is_the_answer(bot: tuple[httpx.Client, Scripted]) -> None:
    client, _ = bot
    asked = say(client, "nobody", "我的快递到哪了")  # no recent orders: ask for the number
    assert "订单号" in asked, asked
    reply = say(client, "nobody", "订单号是 2024112812345678")
    assert "没有查到" in reply, reply  # the number was looked up, not read as a new question


def test_anothers_order_is_refused_like_an_unknown_one(bot: tuple[httpx.Client, Scripted]) -> None:
    client, _ = bot
    theirs = say(client, "c2", "订单 DD202406080003 到哪了")
    unknown = say(client, "c3", "订单 DD209999999999 到哪了")
    assert theirs == unknown and "没有查到" in theirs and "SF1234567890123" not in theirs, theirs


def test_shop_down_gives_the_faq_and_a_person(bot: tuple[httpx.Client, Scripted]) -> None:
    client, scripted = bot
    for behaviour in ("500", "garbage", "stall"):
        scripted.script.clear()
        scripted.next(behaviour, 10)
        reply = say(client, f"down-{behaviour}", "我的快递到哪了")
        assert "转人工" in reply and "系统暂时查不到" in reply, (behaviour, reply)


def test_a_stalled_shop_holds_only_its_own_customers_turn(bot: tuple[httpx.Client, Scripted]) -> None:
    client, scripted = bot
    scripted.next("stall", 10)
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(say, client, "stalled", "我的快递到哪了")
        time.sleep(0.2)  # its lookup is under way, waiting for the shop
        assert say(client, "other", "你好")
        assert not slow.done()  # another customer was answered while that turn still waited
        reply = slow.result()
    assert "转人工" in reply, reply  # the shop's 1 s timeout ended the turn with the fallback
    metrics = client.get("/metrics").text
    assert 'kefu_lookups_total{kind="recent_orders",outcome="timeout"}' in metrics or (
        'kefu_lookups_total{kind="parcel",outcome="timeout"}' in metrics
    ), metrics


def test_a_number_with_a_question_of_its_own_answers_that_question(bot: tuple[httpx.Client, Scripted]) -> None:
    client, _ = bot
    offered = say(client, "c1", "我的退款什么时候到账")  # the bot waits for a refund's order
    assert "1. " in offered and "2. " in offered, offered
    reply = say(client, "c1", "订单号：DD-2024-0608-0003 到哪了")
    assert "SF1234567890123" in reply and "上海浦东中转场" in reply and "退款" not in reply, reply


def test_a_waybill_finds_only_the_customers_own_parcel(bot: tuple[httpx.Client, Scripted]) -> None:
    client, scripted = bot
    own = say(client, "c1", "SF1234567890123 到哪了")
    assert "DD202406080003" in own and "上海浦东中转场" in own, own
    scripted.calls.clear()
    theirs = say(client, "c2", "SF1234567890123 到哪了")  # c1's waybill, asked by c2
    assert "没有查到" in theirs and "上海" not in theirs and "DD202406080003" not in theirs, theirs
    assert not any(path.startswith("/shipments/") for path in scripted.calls), scripted.calls


def test_item_words_in_the_question_narrow_the_orders(bot: tuple[httpx.Client, Scripted]) -> None:
    client, _ = bot
    offered = say(client, "c1", "我的dunk发货了吗")
    lines = [line for line in offered.splitlines() if line[:1].isdigit()]
    assert len(lines) >= 2 and all("Dunk" in line for line in lines), offered  # no Air Jordan, no socks alone
    one = say(client, "c9", "我的Air Jordan到哪了")  # c9 has no orders: asked for the number
    assert "订单号" in one, one
    reply = say(client, "c1", "我的Air Jordan到哪了")  # of c1's parcels, one is an Air Jordan
    assert "SF1234567890123" in reply and "上海浦东中转场" in reply, reply


def test_stock_by_alias_and_size_then_follow_ups_and_acknowledgement(bot: tuple[httpx.Client, Scripted]) -> None:
    client, _ = bot
    assert "有货" in say(client, "c4", "AJ1 42码有货吗")
    size = say(client, "c4", "那43码呢")  # the product asked before, in another size
    assert "43码" in size and shown_day("2024-07-15") in size, size
    when = say(client, "c4", "什么时候补货")  # the product and size asked before
    assert "43码" in when and shown_day("2024-07-15") in when, when
    bare = say(client, "c4", "44的呢")  # a size without 码
    assert "44码" in bare and "有货" in bare, bare
    assert "好的亲" in say(client, "c4", "好的")
    spoken = say(client, "c5", "乔丹1还有42码吗")  # the alias, with 还有 between it and the size
    assert "42码" in spoken and "有货" in spoken, spoken
    every = say(client, "c6", "AJ1什么时候补货")  # no size: each size the shop has
    lines = [line for line in every.splitlines() if "Air Jordan" in line]
    assert [line.split("：")[0][-3:] for line in lines] == ["42码", "43码", "44码"], every
    assert shown_day("2024-07-15") in lines[1] and "库存 5 件" in lines[2], every
    one = say(client, "c6", "那43码呢")  # then one of them
    assert "43码" in one and "44码" not in one, one


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("订单号：DD202406080003", ["DD202406080003"]),
        ("2024 1128 1234 5678", ["2024112812345678"]),
        ("dd-20240608-0003 呢", ["DD202406080003"]),
        ("电话13812345678", []),
        ("AJ1 42码有货吗", []),
    ],
)
def test_pasted_order_numbers(text: str, found: list[str]) -> None:
    assert order_numbers(text) == found


def test_refund_and_a_late_unshipped_order(bot: tuple[httpx.Client, Scripted]) -> None:
    client, _ = bot
    refund = say(client, "c1", "订单 DD202405200007 的退款到哪一步了")
    assert "已同意" in refund and "699.00" in refund and "1-3 个工作日" in refund, refund
    unshipped = say(client, "c1", "DD202406090004 什么时候发货")
    paid, promised = shown_day("2024-06-09"), shown_day("2024-06-11")  # 48 hours later
    assert f"{paid} 21:40" in unshipped and f"{promised} 21:40" in unshipped and "超过了承诺" in unshipped, unshipped


def test_a_push_to_ship_is_about_the_paid_order_still_waiting(bot: tuple[httpx.Client, Scripted]) -> None:
    client, _ = bot
    # c1 has orders awaiting payment, paid, shipped and delivered: only the paid one can be pushed
    reply = say(client, "c1", "帮我催一下发货")
    assert "DD202406090004" in reply and "超过了承诺" in reply and "1. " not in reply, reply
    signed = say(client, "c1", "快递显示签收了但是我没收到")  # the delivered order, not a list
    assert "75312345678901" in signed and "1. " not in signed, signed
    named = say(client, "c1", "运动袜那单催一下发货")  # an item named: the orders with socks, not the paid one
    lines = [line for line in named.splitlines() if line[:1].isdigit()]
    assert len(lines) == 2 and all("运动袜" in line for line in lines), named


def test_a_short_complaint_after_an_answer_is_read_with_the_question(bot: tuple[httpx.Client, Scripted]) -> None:
    client, _ = bot
    assert "JT0001234567890" in say(client, "c2", "我的快递到哪了")
    slow = client.post("/api/chat", json={"user": "c2", "text": "为什么这么慢"}).json()  # alone: chit-chat
    assert slow["action"] == "answer" and "JT0001234567890" in slow["reply"], slow
    weather = client.post("/api/chat", json={"user": "c2", "text": "今天天气怎么样"}).json()
    assert weather["action"] == "out_of_scope", weather  # chit-chat stays chit-chat


def test_two_questions_at_once_and_the_pick_answers_the_first(bot: tuple[httpx.Client, Scripted]) -> None:
    client, _ = bot
    both = say(client, "c1", "我的快递到哪了，还有退款什么时候到")
    parcels, refund = both.split("\n\n")
    assert "2. Air Jordan" in parcels and "退款" in refund and "1. " not in refund, both  # one list, not two
    assert "SF1234567890123" in say(client, "c1", "2")  # the parcels' list is the one a number answers


def test_cancelling_or_changing_an_order_depends_on_whether_it_has_shipped(bot: tuple[httpx.Client, Scripted]) -> None:
    client, _ = bot
    unshipped = say(client, "c1", "收货地址填错了")  # the paid order, still waiting to ship
    assert "DD202406090004" in unshipped and "地址还能改" in unshipped, unshipped
    shipped = say(client, "c1", "AJ那单地址能改吗")  # the Air Jordan has left
    assert "DD202406080003" in shipped and "改不了地址" in shipped, shipped
    cancel = say(client, "c1", "DD202406080003 帮我取消")
    assert "不能直接取消" in cancel and "拒收" in cancel, cancel


def test_an_order_number_sent_alone_is_looked_up(bot: tuple[httpx.Client, Scripted]) -> None:
    client, _ = bot
    # Nobody asked for it: the order's status, here its parcel
    assert "上海浦东中转场" in say(client, "c1", "DD202406080003")
    assert "上海浦东中转场" in say(client, "c1", "SF1234567890123")  # its waybill alone
    refunding = say(client, "c1", "订单号 DD202405200007")  # an order in refund is described by its refund
    assert "已同意" in refunding and "699.00" in refunding, refunding
    # Sent after a refund question and an acknowledgement: still about the refund
    say(client, "c1", "退款到哪了")
    say(client, "c1", "好的")
    refunded = say(client, "c1", "DD202405150008")
    assert "已完成" in refunded and "59.00" in refunded, refunded
    # Another customer's order number reveals nothing
    other = say(client, "c7", "DD202406080003")
    assert "没有查到" in other and "Air Jordan" not in other and "SF1234567890123" not in other, other


def test_order_numbers_with_a_vague_question_each_get_their_answer(bot: tuple[httpx.Client, Scripted]) -> None:
    client, _ = bot
    vague = say(client, "c1", "DD202406080003 怎么样了")  # alone, the model cannot tell the question
    assert "上海浦东中转场" in vague, vague
    both = say(client, "c1", "DD202406080003 DD202406090004 这两个订单怎么样了")
    assert "SF1234567890123" in both and "DD202406090004" in both and "付款" in both, both
    once = say(client, "c1", "DD202406080003 SF1234567890123")  # an order and its own waybill
    assert once.count("上海浦东中转场") == 1 and "没有查到" not in once, once
    mixed = say(client, "c1", "DD202406080003 和 DD202406070009 到哪了")  # the second is c2's
    assert "上海浦东中转场" in mixed and "DD202406070009：" in mixed and "没有查到" in mixed, mixed
    assert "JT0001234567890" not in mixed and "极兔" not in mixed, mixed


def test_a_feishu_customer_is_their_open_id_towards_the_shop(
    settings: Settings, shop_server: tuple[str, Scripted]
) -> None:
    """Feishu sends a union id beside the open id; the shop knows ``feishu:<open_id>``, as the
    contract says, whatever links the customer across channels in kefu's own stores."""
    from tests.support.callbacks import FS_APP, FS_SECRET, feishu_callback, with_channels
    from tests.support.fake_platform import FakePlatform

    base_shop, scripted = shop_server
    scripted.script.clear()
    with FakePlatform() as fake:
        fake.state["feishu"]["apps"][FS_APP] = FS_SECRET
        with served(with_shop(with_channels(settings, fake), base_shop)) as (base, _):
            headers, body = feishu_callback("我的快递到哪了", "om_order_1", open_id="ou_demo")
            assert httpx.post(f"{base}/webhooks/feishu", headers=headers, content=body).status_code == 200
            [sent] = fake.wait_for("/open-apis/im/v1/messages/om_order_1/reply", 1)
    content = json.loads(sent.json()["content"])["text"]
    assert "DD202406070012" in content and "75312345678901" in content, content


def test_a_wechat_customer_service_message_gets_their_order(
    settings: Settings, shop_server: tuple[str, Scripted]
) -> None:
    """微信客服, the whole way: the signed notice, the pull of the message, the customer
    ``wecom_kf:<external_userid>`` towards the shop, and the reply through ``kf/send_msg``."""
    from tests.support.callbacks import wecom_kf_event, with_channels
    from tests.support.fake_platform import FakePlatform

    base_shop, scripted = shop_server
    scripted.script.clear()
    message = {
        "msgid": "kfmsg1", "open_kfid": "wkShop", "external_userid": "wmDemo", "send_time": int(time.time()),
        "origin": 3, "msgtype": "text", "text": {"content": "我的订单什么时候发货"},
    }  # fmt: skip
    with FakePlatform() as fake:
        fake.state["kf_messages"] = {"wkShop": [message]}
        with served(with_shop(with_channels(settings, fake), base_shop)) as (base, _):
            query, body = wecom_kf_event("SYNC_TOKEN", "wkShop")
            assert httpx.post(f"{base}/webhooks/wecom", params=query, content=body).status_code == 200
            [sent] = fake.wait_for("/cgi-bin/kf/send_msg", 1)
    reply = sent.json()
    assert reply["touser"] == "wmDemo" and reply["open_kfid"] == "wkShop", reply
    assert "DD202406060010" in reply["text"]["content"] and "付款" in reply["text"]["content"], reply


def test_wecom_app_message_gets_the_trace(settings: Settings, shop_server: tuple[str, Scripted]) -> None:
    """A signed WeCom callback: the customer is ``wecom:<user>`` and the reply goes to the platform."""
    from tests.support.callbacks import SEND, wecom_callback, with_channels
    from tests.support.fake_platform import FakePlatform

    base_shop, scripted = shop_server
    scripted.script.clear()
    with FakePlatform() as fake, served(with_shop(with_channels(settings, fake), base_shop)) as (base, _):
        query, body = wecom_callback("我的快递到哪了", "8101")
        assert httpx.post(f"{base}/webhooks/wecom", params=query, content=body).status_code == 200
        content = fake.wait_for(SEND, 1)[0].json()["text"]["content"]
    assert "JT0001234567890" in content and "快件派送中" in content, content
