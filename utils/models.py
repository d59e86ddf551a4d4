"""Load the tutorial's models: the real Hub model when it can be had, else an offline stand-in.

The same notebook code runs in both cases. Each loader prints exactly one line naming the model
that runs and why, e.g.::

    Model: gpt2 (from the local Hub cache)
    Model: SmolLM2-135M-Instruct, the offline stand-in for gpt2 (HF_HUB_OFFLINE=1 and gpt2 is not cached)
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

from transformers import (AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer, PreTrainedModel,
                          PreTrainedTokenizerBase)
from transformers.utils import logging as hf_logging

from utils import assets

HUB_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class StandIn:
    """What runs offline in place of a Hub model."""

    tokenizer_asset: str
    model_asset: str | None  # None: no offline model of this kind
    label: str  # how the printed line names it
    exact_tokenizer: bool = True  # the model's own tokenizer is the Hub one (same ids)


# Hub name -> {"masked_lm" | "causal_lm" | "tokenizer": StandIn}
STAND_INS: dict[str, dict[str, StandIn]] = {
    "bert-base-uncased": {
        "tokenizer": StandIn("bert-tokenizer", None, "bert-base-uncased tokenizer (rebuilt offline, identical ids)"),
        "masked_lm": StandIn("bert-tokenizer", "masked-lm-stand-in",
                             "MiniLM-L6 masked-LM stand-in (all-MiniLM-L6-v2 encoder + MLM head trained "
                             "on the Wikipedia sample)"),
    },
    "gpt2": {
        "tokenizer": StandIn("gpt2-tokenizer", None, "gpt2 tokenizer (rebuilt offline, identical ids)"),
        "causal_lm": StandIn("smollm2-135m", "smollm2-135m",
                             "SmolLM2-135M-Instruct (a different, Llama-style model)", exact_tokenizer=False),
    },
}


class Loaded(NamedTuple):
    """A model (or None for a tokenizer alone) with its tokenizer, and which one ran."""

    model: PreTrainedModel | None
    tokenizer: PreTrainedTokenizerBase
    name: str  # what ran: the Hub name, or the stand-in's label
    stand_in: bool  # True when the offline stand-in ran instead of the Hub model


def hub_offline() -> bool:
    """True when HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set to a true value."""
    return any(os.environ.get(v, "").strip().upper() in {"1", "ON", "YES", "TRUE"}
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def hub_reachable(name: str, timeout: float = HUB_TIMEOUT_S, repo_type: str = "model") -> bool:
    """True if the Hub answers for the model (or ``repo_type="dataset"``) ``name`` within ``timeout`` seconds."""
    from huggingface_hub import HfApi

    api = HfApi()
    try:
        (api.dataset_info if repo_type == "dataset" else api.model_info)(name, timeout=timeout)
        return True
    except Exception:  # any failure (DNS, refused, timeout, 404) means: don't wait on the Hub
        return False


@contextmanager
def _quiet_loading():
    """Hide transformers' per-load progress bars so notebook cells stay clean."""
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.enable_progress_bar()


def _try_hub(load, name: str) -> tuple[Any | None, str]:
    """Load ``name`` from the local Hub cache or the network; (None, why) when it can't be had."""
    try:
        return load(name, local_files_only=True), "from the local Hub cache"
    except OSError:
        pass
    if hub_offline():
        return None, f"HF_HUB_OFFLINE=1 and {name} is not in the local Hub cache"
    if not hub_reachable(name):
        return None, f"the Hub did not answer within {HUB_TIMEOUT_S:.0f} s and {name} is not cached"
    return load(name), "downloaded from the Hub"


def _stand_in(name: str, kind: str) -> StandIn:
    if name not in STAND_INS or kind not in STAND_INS[name]:
        offered = [n for n, kinds in STAND_INS.items() if kind in kinds]
        raise ValueError(f"No {kind.replace('_', ' ')} called {name!r} here. Available: {', '.join(offered)} "
                         "(any other Hub name works too when it is cached or the Hub is reachable).")
    return STAND_INS[name][kind]


def _load(name: str, kind: str, model_class, **model_kwargs) -> Loaded:
    known = name in STAND_INS
    if known:
        _stand_in(name, kind)  # fail early on e.g. load_masked_lm("gpt2")
    with _quiet_loading():
        if model_class is None:
            loaded, why = _try_hub(AutoTokenizer.from_pretrained, name)
            result = Loaded(None, loaded, name, False) if loaded is not None else None
        else:
            model, why = _try_hub(lambda n, **kw: model_class.from_pretrained(n, use_safetensors=True,
                                                                            **model_kwargs, **kw), name)
            result = None
            if model is not None:
                result = Loaded(model.eval(), AutoTokenizer.from_pretrained(name, local_files_only=True), name, False)
        if result is None:
            if not known:
                raise ValueError(f"{name!r} could not be loaded ({why}) and has no offline stand-in. "
                                 f"Offline, use one of: {', '.join(STAND_INS)}.")
            spec = _stand_in(name, kind)
            tokenizer = AutoTokenizer.from_pretrained(assets.asset_dir(spec.tokenizer_asset))
            model = None
            if model_class is not None:
                folder = assets.asset_dir(spec.model_asset)
                model = model_class.from_pretrained(folder, use_safetensors=True, **model_kwargs).eval()
            result = Loaded(model, tokenizer, spec.label, True)
            why = f"offline stand-in for {name}: {why}"
    print(f"{'Tokenizer' if model_class is None else 'Model'}: {result.name} ({why})")
    return result


def load_tokenizer(name: str) -> PreTrainedTokenizerBase:
    """The tokenizer for a Hub model name (Hub/cache first, else the exact offline rebuild)."""
    return _load(name, "tokenizer", None).tokenizer


def load_masked_lm(name: str = "bert-base-uncased", **kwargs) -> Loaded:
    """A fill-mask model and its tokenizer (Hub/cache first, else the offline stand-in)."""
    return _load(name, "masked_lm", AutoModelForMaskedLM, **kwargs)


def load_causal_lm(name: str = "gpt2", **kwargs) -> Loaded:
    """A text-generation model and its tokenizer (Hub/cache first, else the offline stand-in)."""
    return _load(name, "causal_lm", AutoModelForCausalLM, **kwargs)
