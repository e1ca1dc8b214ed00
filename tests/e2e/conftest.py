"""The end-to-end layer: the bot over HTTP against fakes of the platforms, the shop and 快递100 on loopback, real Redis, real processes."""

from tests.support.redis_fixtures import client, redis_clean, redis_url, settings

__all__ = ["client", "redis_clean", "redis_url", "settings"]
