"""Run profiles: one name picks every size in a notebook's parameters cell."""

from __future__ import annotations

import os

PROFILE_ENV = "TUTORIAL_PROFILE"
DEFAULT = "classroom"


def choose_profile(profiles: dict[str, dict], default: str = DEFAULT) -> tuple[str, dict]:
    """(name, settings) of the profile named by $TUTORIAL_PROFILE (else ``default``); clear error if unknown."""
    name = os.environ.get(PROFILE_ENV, "").strip() or default
    if name not in profiles:
        raise ValueError(f"Unknown profile {name!r} (from ${PROFILE_ENV}). Choose one of: {', '.join(profiles)}.")
    return name, dict(profiles[name])
