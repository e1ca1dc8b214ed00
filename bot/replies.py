"""The bot's own words (not the knowledge base's answers): clarifying, falling back, handing over."""

from __future__ import annotations

NON_TEXT = "亲，我暂时只能看懂文字消息哦。麻烦您用文字描述一下问题，我马上为您处理；需要人工客服请回复“人工”。"
FALLBACK = "抱歉，这个问题我还没学会。您可以换个说法再问一次，或回复“人工”为您转接人工客服。"
OUT_OF_SCOPE = "抱歉，我是本店的客服助手，只能解答商品、订单、物流、售后等店铺相关的问题哦。有这方面的问题请随时问我；需要人工客服请回复“人工”。"
HANDOFF = "已为您转接人工客服，请稍候，客服会尽快回复您。"
EMPTY = "您好，请问有什么可以帮您？"
EMPTY_UPSET = "请问遇到了什么问题？告诉我，我马上帮您处理；需要人工客服请回复“人工”。"  # after "😡" alone


def clarify(titles: list[str]) -> str:
    if len(titles) == 1:
        return f"您是想问“{titles[0]}”吗？回复“是”或“1”我就为您解答。"
    options = "\n".join(f"{i}. {title}" for i, title in enumerate(titles, start=1))
    return f"您是想问：\n{options}\n回复数字即可。"


def with_opening(opening: str, answer: str) -> str:
    """The soothing opening first, unless the answer already opens with an apology."""
    if not opening or any(word in answer[:20] for word in ("抱歉", "对不起", "不好意思")):
        return answer
    return f"{opening}{answer}"
