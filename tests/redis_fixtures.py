"""Redis isolation for tests: a unique key prefix per test on the shared Redis.

@pytest.fixture
def redis_prefix() -> Iterator[str]:
    with isolated_prefix() as prefix:
        yield prefix
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from tests.conftest import require_service

REDIS_URL = "redis://127.0.0.1:6379/0"


@contextlib.contextmanager
def isolated_prefix() -> Iterator[str]:
    """A unique key prefix on the shared Redis; every key holding it is deleted afterwards."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        require_service("Redis", f"{REDIS_URL}: {exc}")
    prefix = f"fltest{uuid.uuid4().hex[:10]}:"
    try:
        yield prefix
    finally:
        for key in client.scan_iter(match=f"*{prefix}*", count=1000):
            client.delete(key)
        client.close()
