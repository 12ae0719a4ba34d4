"""The client-side token bucket that keeps profile fetches under LINE's limit."""

from __future__ import annotations

import threading
import time

import pytest

from enishi.line.ratelimit import TokenBucket, bucket


def test_a_burst_then_the_steady_rate():
    limiter = TokenBucket(rate=200, capacity=10)
    started = time.monotonic()
    for _ in range(10):
        assert limiter.acquire() == 0  # the burst
    for _ in range(40):
        limiter.acquire()
    elapsed = time.monotonic() - started
    assert elapsed >= 0.18  # 40 more at 200/s (an upper bound would measure the machine)


def test_threads_share_the_bucket():
    limiter = TokenBucket(rate=500, capacity=5)
    started = time.monotonic()

    def take() -> None:
        for _ in range(50):
            limiter.acquire()

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - started >= (200 - 5) / 500 * 0.95


def test_one_bucket_per_channel_and_endpoint():
    assert bucket("2000000001", "profile") is bucket("2000000001", "profile")
    assert bucket("2000000001", "profile") is not bucket("2000000002", "profile")
    assert bucket("2000000001", "profile").rate == 2000
    with pytest.raises(KeyError):
        bucket("2000000001", "no-such-endpoint")
    with pytest.raises(ValueError):
        TokenBucket(rate=0)
