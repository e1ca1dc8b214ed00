"""The reconnect loop both platform connections share: backoff, its reset, and what ends it."""

from __future__ import annotations

import logging

import pytest

from bot.reconnect import keep_connected

pytestmark = pytest.mark.anyio


class Script:
    """Connection attempts that fail or close as scripted, then end the loop (``KeyboardInterrupt``
    is no connection error); the sleeps it was asked for."""

    def __init__(self, *outcomes: Exception | None, lasting: list[float] | None = None) -> None:
        self.outcomes = list(outcomes)
        self.lasting = lasting or []  # how long each attempt stays up
        self.sleeps: list[float] = []
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def connect(self) -> None:
        if not self.outcomes:
            raise KeyboardInterrupt
        outcome = self.outcomes.pop(0)
        self.now += self.lasting.pop(0) if self.lasting else 0.0
        if outcome is not None:
            raise outcome

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


async def test_errors_back_off_doubling_to_the_limit_and_a_clean_close_starts_over() -> None:
    script = Script(*[OSError("refused")] * 7, None, OSError("refused"))
    with pytest.raises(KeyboardInterrupt):
        await keep_connected("test", script.connect, (OSError,), script.sleep, max_backoff=30)
    assert script.sleeps == [1, 2, 4, 8, 16, 30, 30, 1]


async def test_a_connection_that_stayed_up_starts_the_backoff_over() -> None:
    script = Script(*[OSError("dropped")] * 4, lasting=[0, 0, 0, 60])
    with pytest.raises(KeyboardInterrupt):
        await keep_connected("test", script.connect, (OSError,), script.sleep, max_backoff=30, monotonic=script.clock)
    assert script.sleeps == [1, 2, 4, 1]


async def test_other_exceptions_end_the_loop() -> None:
    script = Script(OSError("refused"), RuntimeError("a bug"))
    with pytest.raises(RuntimeError):
        await keep_connected("test", script.connect, (OSError,), script.sleep)
    assert script.sleeps == [1]


async def test_a_connection_url_in_an_error_keeps_its_query_out_of_the_log(caplog: pytest.LogCaptureFixture) -> None:
    script = Script(OSError("400, url='wss://host/ws?access_key=s3cr3t&ticket=t1'"))
    with caplog.at_level(logging.WARNING), pytest.raises(KeyboardInterrupt):
        await keep_connected("test", script.connect, (OSError,), script.sleep)
    assert "wss://host/ws?…" in caplog.text and "s3cr3t" not in caplog.text and "t1" not in caplog.text
