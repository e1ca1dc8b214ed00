"""Serve the fake platform on its own, for benchmarks: ``python -m tests.support.fake_platform PORT``.

``GET /__replies`` returns when each reply arrived: WeCom ``message/send`` by ``touser`` and
Feishu replies by the message replied to; ``GET /__replies?count=1``, how many replies arrived
(a reply sent twice counts twice).
"""

from __future__ import annotations

import gc
import json
import sys
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.support.fake_platform.server import FakePlatform

FEISHU_REPLY = "/open-apis/im/v1/messages/"


async def replies(fake: FakePlatform, request: Request, body: bytes) -> Response:
    out: dict[str, float] = {}
    sent = [r for r in list(fake.requests) if r.path == "/cgi-bin/message/send" or r.path.endswith("/reply")]
    if request.query_params.get("count"):
        return JSONResponse({"replies": len(sent)})
    for r in sent:
        if r.path == "/cgi-bin/message/send":
            out[json.loads(r.body)["touser"]] = r.at
        elif r.path.startswith(FEISHU_REPLY) and r.path.endswith("/reply"):
            out[r.path.removeprefix(FEISHU_REPLY).removesuffix("/reply")] = r.at
    return JSONResponse(out)


def main() -> None:
    fake = FakePlatform(port=int(sys.argv[1]))
    fake.state["feishu"]["apps"].update(json.loads(sys.argv[2]) if len(sys.argv) > 2 else {})
    fake.route("/__replies", replies)
    with fake:
        while True:
            # What it records only grows (a benchmark's 30,000 replies), and a full collection
            # over it stopped this server for 46-96 ms mid-run, counted as kefu's latency. Each
            # second, collect what is new and move it out of later collections' way.
            time.sleep(1)
            gc.collect()
            gc.freeze()


if __name__ == "__main__":
    main()
