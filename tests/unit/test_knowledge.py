"""The knowledge base and labelled files: the shipped one loads, broken ones say where and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.nlu.knowledge import (
    CATEGORIES,
    KnowledgeBaseError,
    Synonyms,
    load_knowledge_base,
    load_labelled,
    load_training_data,
)
from bot.nlu.normalize import normalize
from bot.settings import SHIPPED_FAQ

SMALL_KB = """\
synonyms:
  退宽: 退款
intents:
  - name: where_is_parcel
    category: logistics
    answer: 快递正在路上
    examples: [我的快递到哪了, 包裹到哪了]
  - name: refund_progress
    category: after_sales
    title: 退款什么时候到账
    answer: 退款1-3个工作日到账
    examples: [退款什么时候到账, 退款多久到]
"""


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_shipped_knowledge_base_loads_with_enough_intents_and_examples() -> None:
    kb = load_knowledge_base(SHIPPED_FAQ)
    assert len(kb.intents) >= 40
    for name, intent in kb.intents.items():
        assert len(intent.examples) >= 15, name
        assert intent.category in CATEGORIES, name
        assert intent.answer.strip(), name
        assert intent.title.strip(), name
    for name in ("where_is_parcel", "refund_progress", "greeting", "human_agent"):
        assert name in kb.intents
    texts, labels = kb.training_pairs()
    assert len(texts) == len(labels) == sum(len(i.examples) for i in kb.intents.values())
    assert len(kb.digest) == 64


def test_shipped_human_agent_intent_hands_over() -> None:
    # "转人工" must reach a person (DESIGN: replies tell customers to answer "人工").
    assert load_knowledge_base(SHIPPED_FAQ).intents["human_agent"].handoff is True


def test_shipped_synonyms_apply_to_normalised_text() -> None:
    kb = load_knowledge_base(SHIPPED_FAQ)
    assert kb.synonyms.apply(normalize("ＡＪ１多少钱").text) == "airjordan1多少钱"
    assert kb.synonyms.apply("没有别名的句子") == "没有别名的句子"
    assert kb.synonyms.apply(normalize("Cash on delivery 可以吗").text) == "货到付款 可以吗"


def test_latin_aliases_match_whole_words_only() -> None:
    synonyms = Synonyms.of({"order": "订单", "aj1": "airjordan1", "退huo": "退货"})
    assert synonyms.apply("cancel order") == "cancel 订单"
    assert synonyms.apply("border reorder orders") == "border reorder orders"
    assert synonyms.apply("aj1有货么 aj13呢") == "airjordan1有货么 aj13呢"
    assert synonyms.apply("我要退huo") == "我要退货"


def test_the_longest_alias_wins_where_several_start_at_one_place() -> None:
    synonyms = Synonyms.of(
        {"aj": "乔丹", "aj1": "airjordan1", "aj11": "airjordan11", "七天": "7天", "七天无理由": "无理由退货"}
    )
    assert synonyms.apply("aj11和aj1和aj") == "airjordan11和airjordan1和乔丹"
    assert synonyms.apply("aj12") == "aj12"  # "aj" is not a whole word there, nor is "aj1"
    assert synonyms.apply("支持七天无理由吗 七天内") == "支持无理由退货吗 7天内"


def test_small_knowledge_base_loads(tmp_path: Path) -> None:
    kb = load_knowledge_base(write(tmp_path, "kb.yaml", SMALL_KB))
    assert list(kb.intents) == ["where_is_parcel", "refund_progress"]
    assert kb.intents["where_is_parcel"].title == "我的快递到哪了"  # first example when no title
    assert kb.intents["refund_progress"].title == "退款什么时候到账"
    assert kb.synonyms.apply("我要退宽") == "我要退款"
    texts, labels, found = load_training_data(tmp_path / "kb.yaml")
    assert found is not None and found.digest == kb.digest
    assert labels.count("refund_progress") == 2 and "包裹到哪了" in texts


def test_digest_changes_with_the_file(tmp_path: Path) -> None:
    a = load_knowledge_base(write(tmp_path, "a.yaml", SMALL_KB))
    b = load_knowledge_base(write(tmp_path, "b.yaml", SMALL_KB.replace("快递正在路上", "快递在路上了")))
    assert a.digest != b.digest


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    broken = SMALL_KB.replace("examples: [退款什么时候到账, 退款多久到]", "examples: [退款什么时候到账, 退款多久到")
    path = write(tmp_path, "kb.yaml", broken)
    with pytest.raises(KnowledgeBaseError) as e:
        load_knowledge_base(path)
    msg = str(e.value)
    assert str(path) in msg
    assert "line " in msg
    line = int(msg.split("line ")[1].split(":")[0].split(",")[0])
    assert 12 <= line <= 13  # the unclosed list opens on line 12; the parser notices at the end


def test_duplicate_intent_is_refused(tmp_path: Path) -> None:
    dup = SMALL_KB.replace("name: refund_progress", "name: where_is_parcel")
    with pytest.raises(KnowledgeBaseError, match=r"intents\[1\].*duplicate.*where_is_parcel"):
        load_knowledge_base(write(tmp_path, "kb.yaml", dup))


def test_missing_answer_is_refused(tmp_path: Path) -> None:
    missing = SMALL_KB.replace("    answer: 快递正在路上\n", "")
    with pytest.raises(KnowledgeBaseError, match=r"intents\[0\].*where_is_parcel.*'answer'"):
        load_knowledge_base(write(tmp_path, "kb.yaml", missing))


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    unknown = SMALL_KB.replace("    answer: 快递正在路上\n", "    answer: 快递正在路上\n    anwser: typo\n")
    with pytest.raises(KnowledgeBaseError, match=r"intents\[0\].*unknown key.*anwser"):
        load_knowledge_base(write(tmp_path, "kb.yaml", unknown))


def test_bad_category_lists_the_valid_ones(tmp_path: Path) -> None:
    bad = SMALL_KB.replace("category: logistics", "category: shipping")
    with pytest.raises(KnowledgeBaseError, match="'category' must be one of order, logistics"):
        load_knowledge_base(write(tmp_path, "kb.yaml", bad))


def test_empty_examples_and_single_intent_are_refused(tmp_path: Path) -> None:
    no_examples = SMALL_KB.replace("examples: [我的快递到哪了, 包裹到哪了]", "examples: []")
    with pytest.raises(KnowledgeBaseError, match="'examples'"):
        load_knowledge_base(write(tmp_path, "a.yaml", no_examples))
    one = "intents:\n  - {name: a, category: order, answer: x, examples: [y]}\n"
    with pytest.raises(KnowledgeBaseError, match="at least two intents"):
        load_knowledge_base(write(tmp_path, "b.yaml", one))


def test_missing_file_and_wrong_shape(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeBaseError, match="cannot read"):
        load_knowledge_base(tmp_path / "nope.yaml")
    with pytest.raises(KnowledgeBaseError, match="'intents' list"):
        load_knowledge_base(write(tmp_path, "kb.yaml", "- just\n- a list\n"))


def test_non_utf8_knowledge_base_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "kb.yaml", SMALL_KB, encoding="gbk")
    with pytest.raises(KnowledgeBaseError, match="UTF-8"):
        load_knowledge_base(path)


def test_labelled_csv_loads(tmp_path: Path) -> None:
    path = write(tmp_path, "data.csv", 'text,intent\n我的快递到哪了,where_is_parcel\n"退款, 多久到",refund_progress\n')
    texts, labels = load_labelled(path)
    assert texts == ["我的快递到哪了", "退款, 多久到"]
    assert labels == ["where_is_parcel", "refund_progress"]
    t2, l2, kb = load_training_data(path)
    assert (t2, l2, kb) == (texts, labels, None)


def test_labelled_csv_with_bom_and_reordered_columns(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes("\ufeffintent,text\nwhere_is_parcel,包裹到哪了\n".encode())
    assert load_labelled(path) == (["包裹到哪了"], ["where_is_parcel"])


def test_labelled_tsv_loads(tmp_path: Path) -> None:
    for name in ("data.tsv", "data.txt"):  # by suffix, or by a tab in the header
        path = write(tmp_path, name, "text\tintent\n退款, 多久到\trefund_progress\n你好\tgreeting\n")
        assert load_labelled(path) == (["退款, 多久到", "你好"], ["refund_progress", "greeting"])


def test_unknown_csv_columns_name_the_expected_header(tmp_path: Path) -> None:
    path = write(tmp_path, "data.csv", "question,label\n你好,greeting\n")
    with pytest.raises(KnowledgeBaseError) as e:
        load_labelled(path)
    assert "expected the header 'text,intent'" in str(e.value)
    assert "question,label" in str(e.value)
    extra = write(tmp_path, "extra.csv", "text,intent,source\n你好,greeting,web\n")
    with pytest.raises(KnowledgeBaseError, match="expected the header 'text,intent'"):
        load_labelled(extra)


def test_empty_cells_and_empty_files_name_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "data.csv", "text,intent\n你好,greeting\n,greeting\n")
    with pytest.raises(KnowledgeBaseError, match="line 3"):
        load_labelled(path)
    with pytest.raises(KnowledgeBaseError, match="no rows"):
        load_labelled(write(tmp_path, "header.csv", "text,intent\n"))
    with pytest.raises(KnowledgeBaseError, match="empty file"):
        load_labelled(write(tmp_path, "empty.csv", ""))


def test_non_utf8_csv_is_refused_clearly(tmp_path: Path) -> None:
    path = write(tmp_path, "data.csv", "text,intent\n我的快递到哪了,where_is_parcel\n", encoding="gbk")
    with pytest.raises(KnowledgeBaseError, match="not UTF-8"):
        load_labelled(path)


def test_risk_labels_use_the_label_column(tmp_path: Path) -> None:
    path = write(tmp_path, "risk.csv", "text,label\n我要投诉你们,1\n谢谢,0\n")
    assert load_labelled(path, label_column="label") == (["我要投诉你们", "谢谢"], ["1", "0"])
    with pytest.raises(KnowledgeBaseError, match="expected the header 'text,intent'"):
        load_labelled(path)


def test_lookup_kind_and_answer_overrides(tmp_path: Path) -> None:
    with_lookup = SMALL_KB.replace(
        "    answer: 快递正在路上\n",
        "    answer: 快递正在路上\n    lookup: parcel\n    lookup_answers:\n      next_signed: 请联系售后\n",
    )
    intent = load_knowledge_base(write(tmp_path, "kb.yaml", with_lookup)).intents["where_is_parcel"]
    assert intent.lookup == "parcel" and dict(intent.lookup_answers) == {"next_signed": "请联系售后"}
    wrong = SMALL_KB.replace("    answer: 快递正在路上\n", "    answer: 快递正在路上\n    lookup: weather\n")
    with pytest.raises(KnowledgeBaseError, match=r"where_is_parcel.*'lookup' must be one of order, shipping, parcel"):
        load_knowledge_base(write(tmp_path, "kb2.yaml", wrong))


def test_shipped_intents_that_need_the_shops_data_say_so() -> None:
    intents = load_knowledge_base(SHIPPED_FAQ).intents
    kinds = {name: i.lookup for name, i in intents.items() if i.lookup}
    assert kinds["where_is_parcel"] == "parcel" and kinds["refund_progress"] == "refund"
    assert kinds["stock_restock"] == "stock" and kinds["order_status"] == "order"
    assert "greeting" not in kinds and "human_agent" not in kinds
