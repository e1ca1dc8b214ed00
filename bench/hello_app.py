"""A bare hello-world ASGI app on the same server stack, the baseline for the ack-path ratio."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def hello(request: Request) -> Response:
    await request.body()
    return Response(b"")


app = Starlette(routes=[Route("/hello", hello, methods=["POST"])])
