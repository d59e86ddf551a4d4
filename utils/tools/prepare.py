"""Get this machine ready for the notebooks: build only the offline stand-ins that will actually run.

``python -m utils.tools.prepare`` (run by ``make run``) asks, for each Hub model and dataset the notebooks use,
whether the real one can be had (a complete local copy, or a Hub that answers). Only where it cannot,
it builds the stand-in's assets. Online students therefore skip the stand-ins' build entirely;
``make setup`` (``python -m utils.offline.assets``) still builds everything, for a classroom without network.

``python -m utils.tools.prepare --cache-hub-models`` (also run by ``make setup``) copies the real models into the
local Hub cache where the Hub answers, so that a class prepared with network and taught without it
(``HF_HUB_OFFLINE=1``) still runs ``bert-base-uncased`` and ``gpt2``.
"""

from __future__ import annotations

import argparse
import sys

from utils.models import STAND_INS
from utils.offline import assets, hub
from utils.settings import shown_path
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


def cache_hub_models() -> dict[str, str]:
    """Each notebook model's safetensors weights and tokenizer files in the local Hub cache, downloaded where the Hub
    answers: {name: what happened}, one line each, also printed. Offline or unreachable, nothing is fetched."""
    done: dict[str, str] = {}
    for name, _ in NOTEBOOK_MODELS:
        kinds = ("model", "tokenizer")
        folder = hub.cached_snapshot(name, kinds)
        if folder is not None:
            done[name] = f"already in the local Hub cache ({shown_path(folder)})"
        elif why := _why_not_hub(name, kinds):
            done[name] = f"not cached ({why}): offline, the notebooks run its stand-in"
        else:
            folder = hub.download_snapshot(name, kinds)
            done[name] = f"cached in {shown_path(folder)}: offline too, the notebooks run it"
        print(f"{name}: {done[name]}")
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the offline stand-ins this machine will use (only where the "
                                     "Hub's models and data cannot be had); `python -m utils.offline.assets "
                                     "--rebuild` rebuilds every asset.")
    parser.add_argument("--cache-hub-models", action="store_true",
                        help="instead, copy bert-base-uncased and gpt2 into the local Hub cache where the Hub answers "
                             "(about 1 GB), for a class taught offline")
    if parser.parse_args(argv).cache_hub_models:
        try:
            cache_hub_models()
        except hub.HubError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("\nInterrupted: run the same command again to finish the download.", file=sys.stderr)
            return 130
        return 0
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
