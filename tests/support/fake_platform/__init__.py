"""A fake platform API: a real HTTP server on 127.0.0.1 that speaks the platforms' wire formats.

Each platform module adds its routes; the server records every request it got and can be told
to fail the next N calls of a path (HTTP 500, or a platform error code) to exercise retries.
"""

from tests.support.fake_platform.server import FakePlatform, Recorded

__all__ = ["FakePlatform", "Recorded"]
