"""The shop API connector's settings (``shop``): where the shop's API is and how requests are
signed. An empty ``api_base`` means no shop: the bot answers from its FAQ only."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, SecretStr

from bot.settings.base import StrictModel


def http_base(value: str) -> str:
    """An http(s) origin with an optional path prefix, without its trailing slash; "" stays off."""
    value = value.strip()
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) address such as https://shop.example.com/kefu")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("must be an origin with an optional path, without query, fragment or credentials")
    return value.rstrip("/")


HttpBase = Annotated[str, AfterValidator(http_base)]


class ShopSettings(StrictModel):
    api_base: HttpBase = ""  # https://oms.example.com/kefu-api; empty: no shop lookups
    app_key: str = ""
    secret: SecretStr = SecretStr("")
    timeout_seconds: float = Field(default=3.0, gt=0, le=30)

    @property
    def enabled(self) -> bool:
        return bool(self.api_base)
