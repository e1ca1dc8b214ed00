"""Normalisation and tokenisation: what the model sees of a customer's message."""

from __future__ import annotations

import pytest

from bot.nlu.normalize import (
    AMOUNT,
    MAX_TEXT_CHARS,
    ORDER_NO,
    PHONE,
    URL,
    mask_for_log,
    normalize,
    to_simplified,
)
from bot.nlu.tokenize import is_han_free, tokens


def test_full_width_letters_and_digits_become_ascii_lower_case() -> None:
    assert normalize("ＡＪ１多少钱").text == "aj1多少钱"
    assert normalize("Nike AIR Max").text == "nike air max"


def test_traditional_characters_become_simplified() -> None:
    assert normalize("我的訂單").text == "我的订单"
    assert to_simplified("轉人工客服") == "转人工客服"
    assert normalize("退貨運費誰出").text == "退货运费谁出"


def test_punctuation_and_emoji_are_removed() -> None:
    assert normalize("我的快递呢？？😀😀！").text == "我的快递呢"
    assert normalize("what?! no... ok").text == "what no ok"
    assert normalize("[微笑][愉快]😀").text == ""  # smiles, WeChat's own as it sends them too
    assert normalize("！！!...，。").text == ""
    assert normalize("   ").text == ""


@pytest.mark.parametrize(
    ("text", "read"),
    [
        ("👍", "好的"),
        ("👌🏻", "好的"),
        ("[OK]", "好的"),
        ("[强]", "好的"),
        ("[抱拳]", "谢谢"),
        ("谢谢🙏", "谢谢 谢谢"),
        ("👎", "不好"),
    ],
)
def test_emoji_that_stand_for_words_are_read_as_them(text: str, read: str) -> None:
    assert normalize(text).text == read


def test_order_number_is_masked_and_recorded() -> None:
    n = normalize("订单号JD2026112812345678怎么还没发")
    assert ORDER_NO in n.text
    assert "2026112812345678" not in n.text
    assert n.order_numbers == ("jd2026112812345678",)
    plain = normalize("订单123456789012现在什么情况")
    assert plain.order_numbers == ("123456789012",)
    assert plain.text == f"订单 {ORDER_NO} 现在什么情况"


def test_short_numbers_are_not_order_numbers() -> None:
    n = normalize("买了2件 尺码42")
    assert n.order_numbers == ()
    assert ORDER_NO not in n.text


def test_phone_number_is_masked_and_never_kept() -> None:
    for raw in ("手机13812345678联系我", "电话 +86 138-1234-5678", "１３８１２３４５６７８"):
        n = normalize(raw)
        assert n.has_phone, raw
        assert PHONE in n.text, raw
        assert "5678" not in n.text and "5678" not in repr(n), raw
        assert n.order_numbers == (), raw  # a phone is not taken for an order number
    assert not normalize("订单123456789012").has_phone


def test_amounts_are_masked_and_recorded() -> None:
    n = normalize("付了￥199.5 还退了50块钱")
    assert n.text.count(AMOUNT) == 2
    assert "199" not in n.text and "50" not in n.text
    assert len(n.amounts) == 2
    assert any("199.5" in a for a in n.amounts)
    assert any("50" in a for a in n.amounts)


def test_all_masks_together() -> None:
    n = normalize("订单号JD2026112812345678 手机13812345678 付了￥199.5")
    assert n.text == f"订单号 {ORDER_NO} 手机 {PHONE} 付了 {AMOUNT}"
    assert n.has_phone and n.order_numbers and n.amounts


def test_links_are_masked_before_numbers_so_a_product_id_is_no_order_number() -> None:
    n = normalize("https://item.taobao.com/item.htm?id=6238127312这个有货吗")
    assert n.text == f"{URL} 这个有货吗"
    assert n.order_numbers == ()
    n = normalize("看下这个 www.example.com/p/12345678901 订单2024112812345678")
    assert n.text == f"看下这个 {URL} 订单 {ORDER_NO}"
    assert n.order_numbers == ("2024112812345678",)
    assert normalize("【淘宝】https://m.tb.cn/h.5Abc?tk=x「商品」").text == f"淘宝 {URL} 商品"


def test_text_is_capped_before_any_work() -> None:
    assert len(normalize("好" * (MAX_TEXT_CHARS * 4)).text) == MAX_TEXT_CHARS
    # A phone number past the cap is never seen.
    n = normalize("好" * MAX_TEXT_CHARS + "13812345678")
    assert not n.has_phone and PHONE not in n.text


def test_mask_for_log_hides_all_but_last_four_digits() -> None:
    masked = mask_for_log("客户 13812345678 说包裹没到")
    assert "13812345678" not in masked
    assert "1381234" not in masked
    assert masked.endswith("5678 说包裹没到")
    assert mask_for_log("+86 139-8765-4321").endswith("4321")
    assert "8765" not in mask_for_log("+86 139-8765-4321")
    assert mask_for_log("没有号码") == "没有号码"


def test_han_text_becomes_characters_and_bigrams() -> None:
    assert tokens("快递到哪") == ["快", "递", "到", "哪", "快递", "递到", "到哪"]
    assert tokens("好") == ["好"]


def test_latin_words_and_placeholders_are_single_tokens() -> None:
    n = normalize("ＡＪ１订单JD2026112812345678 到哪了")
    toks = tokens(n.text)
    assert "aj1" in toks
    assert ORDER_NO in toks
    assert not any(t in toks for t in ("x", "ordern", "jd"))
    assert tokens(normalize("手机13812345678").text).count(PHONE) == 1


def test_english_sentence_is_split_into_words() -> None:
    text = normalize("Where is my PARCEL? Order 2 shoes, size 42!").text
    assert tokens(text) == ["where", "is", "my", "parcel", "order", "2", "shoes", "size", "42"]
    assert is_han_free(text)
    assert not is_han_free(normalize("where is 快递").text)


def test_empty_text_has_no_tokens() -> None:
    assert tokens(normalize("😀").text) == []


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("广东省深圳市南山区科技园路18号3栋502", "广东省深圳市南山区***"),
        ("北京市朝阳区建国路88号SOHO现代城A座1203", "北京市朝阳区***"),
        ("上海市浦东新区张江镇博云路2号", "上海市浦东新区张江镇***"),
        ("浙江省杭州市西湖区文三路478号华星时代广场A座1201室 请尽快", "浙江省杭州市西湖区*** 请尽快"),
        ("江苏省苏州市吴中区木渎镇金山路100号阳光花园5栋2单元301室", "江苏省苏州市吴中区木渎镇***"),
        ("四川省成都市武侯区人民南路四段27号", "四川省成都市武侯区***"),
        ("广西壮族自治区南宁市青秀区民族大道136号", "广西壮族自治区南宁市青秀区***"),
        ("河南省周口市太康县王庄乡李村3组15号", "河南省周口市太康县王庄乡***"),
        ("收货地址：南山区桃源街道龙珠四路2号方大城3栋1801", "收货地址：南山区***"),
        ("上海市浦东新区世纪大道１００号", "上海市浦东新区***"),  # full-width digits
        ("阳光花园 5 栋", "***"),
        ("【深圳市】快件已送达科技园路18号丰巢柜，请凭取件码取件", "【深圳市】快件已送达***丰巢柜，请凭取件码取件"),
        (
            "【北京市】派件员电话 13800138000，地址 朝阳区建国路88号",
            "【北京市】派件员电话 1**-****-8000，地址 朝阳区***",
        ),
    ],
)
def test_addresses_keep_province_city_and_district(text: str, masked: str) -> None:
    assert mask_for_log(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "【上海市】快件已到达 上海浦东中转场",
        "【广州市】快件已从 广州白云中转场 发出",
        "Air Jordan 1 Retro High OG 芝加哥 42码",
        "订单 DD202406080003 已由顺丰速运发出，运单号 SF1234567890123",
        "我的快递到哪了",
    ],
)
def test_text_without_an_address_is_left_alone(text: str) -> None:
    assert mask_for_log(text) == text
