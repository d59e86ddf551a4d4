"""Run profiles: one name picks every size in a notebook's parameters cell."""

from __future__ import annotations

import os

PROFILE_ENV = "TUTORIAL_PROFILE"
DEFAULT = "classroom"


def choose_profile(profiles: dict[str, dict], name: str | None = None,
                   default: str = DEFAULT) -> tuple[str, dict]:
    """(name, settings) of ``name``, else of $TUTORIAL_PROFILE, else of ``default``; clear error if unknown."""
    from_env = not name and bool(os.environ.get(PROFILE_ENV, "").strip())
    name = name or os.environ.get(PROFILE_ENV, "").strip() or default
    if name not in profiles:
        where = f" (from ${PROFILE_ENV})" if from_env else ""
        raise ValueError(f"Unknown profile {name!r}{where}. Choose one of: {', '.join(profiles)}.")
    return name, dict(profiles[name])
