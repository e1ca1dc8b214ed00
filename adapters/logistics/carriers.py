"""The courier of a bare waybill, guessed from its shape; ``None`` when the shape is not telling.

A guess is only a fallback: the order's ``shipment.company_code`` wins whenever kefu has it. The
table holds shapes that belong to one courier only, as printed on the couriers' own labels and
tracking pages; all-digit numbers are mostly ambiguous (中通, 申通, 韵达 and others overlap),
so only the distinctive ones are listed. Codes are 快递100's company codes.
"""

from __future__ import annotations

import re

# (pattern over the whole upper-cased waybill, 快递100 code, courier)
CARRIER_SHAPES: tuple[tuple[re.Pattern[str], str, str], ...] = tuple(
    (re.compile(pattern), code, name)
    for pattern, code, name in (
        (r"SF\d{12,13}", "shunfeng", "顺丰速运"),
        (r"JT\d{13}", "jtexpress", "极兔速递"),
        (r"YT\d{13}", "yuantong", "圆通速递"),
        (r"JD[A-Z]{0,2}\d{10,15}", "jd", "京东物流"),
        (r"DPK\d{12,13}", "debangkuaidi", "德邦快递"),
        (r"E[A-Z]\d{9}CN", "ems", "EMS"),  # the UPU S10 shape, E-series: China Post's EMS
        (r"75\d{12}", "zhongtong", "中通快递"),  # 14 digits from 75
        (r"7[3-9]\d{10}", "zhongtong", "中通快递"),  # the older 12 digits from 73-79
    )
)

# Couriers whose tracking 快递100 gives only with the receiver's or sender's phone (its last four
# digits) in the query; other couriers are not sent the phone at all.
PHONE_REQUIRED = frozenset({"shunfeng", "shunfengkuaiyun"})


def carrier_of(waybill: str) -> str | None:
    """The 快递100 company code the waybill's shape belongs to, or None when unsure."""
    text = re.sub(r"[\s-]", "", waybill).upper()
    for pattern, code, _name in CARRIER_SHAPES:
        if pattern.fullmatch(text):
            return code
    return None
