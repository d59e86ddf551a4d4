"""Get this machine ready for the notebooks: build only the offline stand-ins that will actually run.

``python -m utils.tools.prepare`` (run by ``make run``) asks, for each Hub model and dataset the notebooks use,
whether the real one can be had (a complete local copy, or a Hub that answers). Only where it cannot,
it builds the stand-in's assets. Online students therefore skip the stand-ins' build entirely;
``make setup`` (``python -m utils.offline.assets``) still builds everything, for a classroom without network.
"""

from __future__ import annotations

import argparse
import sys

from utils.models import STAND_INS
from utils.offline import assets, hub
from utils.wikipedia import HUB_DATASET

# What the notebooks load: (Hub name, what it needs)
NOTEBOOK_MODELS = (("bert-base-uncased", "masked_lm"), ("gpt2", "causal_lm"))


def _why_not_hub(name: str, kinds: tuple[str, ...], repo_type: str = "model") -> str | None:
    """None when the real repo will load; otherwise why not."""
    if repo_type == "model" and hub.cached_snapshot(name, kinds) is not None:
        return None
    if hub.offline():
        return "HF_HUB_OFFLINE=1"
    return hub.unreachable_reason(name, repo_type=repo_type)


def needed_assets() -> dict[str, str]:
    """{asset name: why it is needed} for the stand-ins this machine will run."""
    needed: dict[str, str] = {}
    for name, kind in NOTEBOOK_MODELS:
        why = _why_not_hub(name, ("model", "tokenizer"))
        if why:
            spec = STAND_INS[name][kind]
            for asset in (spec.tokenizer_asset, spec.model_asset):
                needed.setdefault(asset, f"stands in for {name}: {why}")
    why = _why_not_hub(HUB_DATASET[0], (), repo_type="dataset")
    if why:
        needed["wikipedia-sample"] = f"stands in for {HUB_DATASET[0]}: {why}"
    return needed


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description="Build the offline stand-ins this machine will use (only where the Hub's "
                            "models and data cannot be had). It takes no options; `python -m utils.offline.assets "
                            "--rebuild` rebuilds every asset.").parse_args(argv)
    needed = needed_assets()
    if not needed:
        print("Online with the real Hub models and data: no offline stand-in to build.")
    for name, why in needed.items():
        print(f"{name}: {why}")
    try:
        if needed:
            assets.ensure_all(list(needed))
    except assets.AssetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\n{assets.INTERRUPTED}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
