"""The dashboard's token travels in a query string; no log line may carry it."""

from __future__ import annotations

import io
import logging

import pytest

from bot.logs import log_handler


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_query_token_is_hidden_in_access_lines(log_format: str) -> None:
    stream = io.StringIO()
    logger = logging.getLogger("uvicorn.access.test")
    logger.addHandler(handler := log_handler(log_format, stream))
    logger.propagate = False
    try:
        logger.warning('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", "/dashboard?shop=x&token=s3cr3t", "1.1", 200)
        logger.warning("opened /dashboard?token=s3cr3t&shop=x")
    finally:
        logger.removeHandler(handler)
    written = stream.getvalue()
    assert "s3cr3t" not in written
    assert written.count("token=***") == 2 and "shop=x" in written
