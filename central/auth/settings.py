"""The ``[auth]`` settings: how long page sessions and login lock-outs last."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from linetrace.settings import Section

__all__ = ["AuthSettings"]


class AuthSettings(Section):
    """Page sessions and the login rate limit."""

    model_config = ConfigDict(frozen=True)

    session_idle_minutes: int = Field(
        default=480,
        ge=5,
        le=7 * 24 * 60,
        description="A page session unused this long ends (480: one shift).",
    )
    session_max_days: int = Field(
        default=7, ge=1, le=90, description="A page session ends this long after login."
    )
    login_failures: int = Field(
        default=5,
        ge=1,
        le=100,
        description="Failed logins allowed per account and per client address in the window.",
    )
    login_window_s: int = Field(
        default=300,
        ge=10,
        le=86400,
        description="The window of the login rate limit, and how long a lock-out lasts.",
    )
