"""Password hashing and the login rate limit."""

from __future__ import annotations

from linetrace.central.auth.passwords import (
    generate_password,
    hash_password,
    needs_rehash,
    verify_password,
)
from linetrace.central.auth.ratelimit import LoginLimiter


def test_passwords_are_argon2id_and_verify() -> None:
    encoded = hash_password("a long enough secret")
    assert encoded.startswith("$argon2id$")
    assert verify_password(encoded, "a long enough secret")
    assert not verify_password(encoded, "a long enough secreT")
    assert not verify_password("not a hash", "x")
    assert not needs_rehash(encoded)


def test_generated_passwords_differ_and_are_long() -> None:
    made = {generate_password() for _ in range(20)}
    assert len(made) == 20
    assert all(len(p) >= 20 for p in made)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_limit_locks_out_for_the_window_then_lets_go() -> None:
    clock = Clock()
    limiter = LoginLimiter(3, 300, clock)
    keys = ("user:ana", "addr:10.0.0.1")
    for _ in range(3):
        assert limiter.retry_after(*keys) == 0
        limiter.failed(*keys)
    assert limiter.retry_after(*keys) == 300
    assert limiter.retry_after("user:ana", "addr:10.0.0.2") == 300  # per account
    assert limiter.retry_after("user:bao", "addr:10.0.0.1") == 300  # per address
    assert limiter.retry_after("user:bao", "addr:10.0.0.2") == 0
    clock.now += 299.5
    assert limiter.retry_after(*keys) == 1
    clock.now += 1
    assert limiter.retry_after(*keys) == 0


def test_a_success_clears_the_account_but_not_the_address() -> None:
    limiter = LoginLimiter(2, 60, Clock())
    limiter.failed("user:ana", "addr:a")
    limiter.failed("user:ana", "addr:a")
    limiter.forget("user:ana")
    assert limiter.retry_after("user:ana") == 0
    assert limiter.retry_after("addr:a") == 60
