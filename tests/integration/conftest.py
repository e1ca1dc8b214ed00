"""The integration layer: parts against a real Redis, and models trained for real on the shipped
data (the knowledge base, the pretrained vectors), without HTTP."""

from tests.support.redis_fixtures import client, redis_clean, redis_url, settings

__all__ = ["client", "redis_clean", "redis_url", "settings"]
