"""Load the tutorial's models: the real Hub model when it can be had, else an offline stand-in.

The same notebook code runs in both cases. Each loader prints exactly one line naming the model
that runs and why, e.g.::

    Model: gpt2 (from the local Hub cache)
    Model: SmolLM2-135M-Instruct (a different, Llama-style model) (offline stand-in for gpt2: no network,
    huggingface.co could not be looked up, and gpt2 is not cached)
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from transformers import (
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.trainer_callback import TrainerState
from transformers.utils import logging as hf_logging

from utils.offline import assets, hub
from utils.settings import shown_path
from utils.support.validation import check_model_options


@dataclass(frozen=True)
class StandIn:
    """What runs offline in place of a Hub model."""

    tokenizer_asset: str
    model_asset: str | None  # None: no offline model of this kind
    label: str  # how the printed line names it
    about: str = ""  # what a notebook says about it; {vocab} and {recipe} are filled in at load time
    exact_tokenizer: bool = True  # the model's own tokenizer is the Hub one (same ids)


# Hub name -> {"masked_lm" | "causal_lm" | "tokenizer": StandIn}
STAND_INS: dict[str, dict[str, StandIn]] = {
    "bert-base-uncased": {
        "tokenizer": StandIn("bert-tokenizer", None, "bert-base-uncased tokenizer (rebuilt offline, identical ids)"),
        "masked_lm": StandIn("bert-tokenizer", "masked-lm-stand-in",
                             "MiniLM-L6 masked-LM stand-in (all-MiniLM-L6-v2 encoder + MLM head trained "
                             "on the Wikipedia sample)",
                             about="Offline, so this is not bert-base-uncased but a smaller stand-in with the same "
                                   "vocabulary: {recipe}."),
    },
    "gpt2": {
        "tokenizer": StandIn("gpt2-tokenizer", None, "gpt2 tokenizer (rebuilt offline, identical ids)"),
        "causal_lm": StandIn("smollm2-135m", "smollm2-135m",
                             "SmolLM2-135M-Instruct (a different, Llama-style model)", exact_tokenizer=False,
                             about="Offline, so SmolLM2-135M-Instruct runs in place of GPT-2, from a 4-bit quantised "
                                   "copy (Q4_1 GGUF) dequantised to fp32: every probability printed is that "
                                   "quantised model's, close to but not the same as the original SmolLM2's. It is "
                                   "a different model from GPT-2: Llama-style, trained on other data, tuned to chat "
                                   "(here it is fed raw text), with its own {vocab:,}-token vocabulary, so its token "
                                   "ids and words differ from GPT-2's."),
    },
}


class Loaded(NamedTuple):
    """A model (or None for a tokenizer alone) with its tokenizer, and which one ran."""

    model: PreTrainedModel | None
    tokenizer: PreTrainedTokenizerBase
    name: str  # what ran: the Hub name, or the stand-in's label
    stand_in: bool  # True when the offline stand-in ran instead of the Hub model
    description: str = ""  # a sentence or two on what ran, for the notebook to print
    scores: dict | None = None  # a stand-in's measured scores (e.g. held-out accuracy), else None


@contextmanager
def _quiet_loading():
    """Hide transformers' per-load progress bars so notebook cells stay clean, then restore the caller's choice
    (turning them back on regardless would undo a notebook's own ``disable_progress_bar()``)."""
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _from_hub(name: str, kinds: tuple[str, ...]) -> tuple[Path | None, str]:
    """A local folder with everything ``kinds`` need from the Hub's ``name``, or (None, why not)."""
    folder = hub.cached_snapshot(name, kinds)
    if folder is not None:
        return folder, "from the local Hub cache"
    if hub.offline():
        return None, f"HF_HUB_OFFLINE=1 and {name} is not in the local Hub cache"
    unreachable = hub.unreachable_reason(name)
    if unreachable:
        return None, f"{unreachable}, and {name} is not cached"
    print(f"Downloading {name} from the Hub (the first time only: a model takes minutes)...", flush=True)
    return hub.download_snapshot(name, kinds), "downloaded from the Hub"


def _checked(tokenizer: PreTrainedTokenizerBase, source: str) -> PreTrainedTokenizerBase:
    """The tokenizer, after checking it really encodes text (an incomplete folder gives an empty one)."""
    if len(tokenizer) < 100 or not tokenizer("Hello world", add_special_tokens=False)["input_ids"]:
        raise hub.HubError(f"The tokenizer from {source} has {len(tokenizer)} entries and cannot encode text: "
                           "its files are incomplete. Delete that folder and load again.")
    return tokenizer


def _stand_in(name: str, kind: str) -> StandIn:
    if name not in STAND_INS or kind not in STAND_INS[name]:
        offered = [n for n, kinds in STAND_INS.items() if kind in kinds]
        raise ValueError(f"No {kind.replace('_', ' ')} called {name!r} here. Available: {', '.join(offered)} "
                         "(any other Hub name works too when it is cached or the Hub is reachable).")
    return STAND_INS[name][kind]


def _load(name: str, kind: str, model_class, **model_kwargs) -> Loaded:
    if not isinstance(name, (str, Path)) or not str(name).strip():
        raise ValueError(f"Give a Hub model name (e.g. 'gpt2') or the folder of a saved model, got {name!r}.")
    is_folder = Path(str(name)).expanduser().is_dir()
    name = str(name).strip()
    known = name in STAND_INS
    if known:
        _stand_in(name, kind)  # fail early on e.g. load_masked_lm("gpt2")
    check_model_options(model_kwargs)
    kinds = ("tokenizer",) if model_class is None else ("model", "tokenizer")
    with _quiet_loading():
        if is_folder:
            folder, why = hub.local_folder(name, kinds), "from a local folder"
        else:
            folder, why = _from_hub(name, kinds)
        if folder is not None:
            tokenizer = _checked(AutoTokenizer.from_pretrained(folder, trust_remote_code=False),
                                 name if is_folder else f"the Hub's {name}")
            model = None
            if model_class is not None:
                model = model_class.from_pretrained(folder, use_safetensors=True, trust_remote_code=False,
                                                     **model_kwargs).eval()
            about = (f"{name}, loaded from a local folder." if is_folder else
                     f"{name} from the Hub (downloaded or cached), the model of the original tutorial.")
            result = Loaded(model, tokenizer, name, False, about)
        else:
            if not known:
                raise ValueError(f"{name!r} could not be loaded ({why}) and has no offline stand-in. "
                                 f"Offline, use one of: {', '.join(STAND_INS)}.")
            spec = _stand_in(name, kind)
            tokenizer = AutoTokenizer.from_pretrained(assets.asset_dir(spec.tokenizer_asset), trust_remote_code=False)
            model, scores = None, None
            if model_class is not None:
                model_folder = assets.asset_dir(spec.model_asset)
                model = model_class.from_pretrained(model_folder, use_safetensors=True, trust_remote_code=False,
                                                     **model_kwargs).eval()
                scores = assets.manifest(spec.model_asset)["meta"]
            about = spec.about.format(vocab=len(tokenizer), recipe=(scores or {}).get("recipe", ""))
            result = Loaded(model, tokenizer, spec.label, True, about, scores)
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


def load_saved_run(folder: str | Path, device) -> tuple[PreTrainedModel, list[dict]]:
    """A run notebook 3 saved in ``folder`` (``trainer.save_model(folder / "final")``, ``trainer.save_state()``): its
    model, on ``device`` and in eval mode, and its log history; one clear error where nothing is saved yet."""
    folder = Path(folder)
    state, final = folder / "trainer_state.json", folder / "final"
    if not state.is_file() or not (final / "config.json").is_file():
        raise FileNotFoundError(f"No first run is saved in {shown_path(folder)} yet: run the first run's training "
                                "(*Train*: it saves the model and its log), then this cell again.")
    with _quiet_loading():
        model = AutoModelForCausalLM.from_pretrained(final, use_safetensors=True, trust_remote_code=False)
    model.loss_type = "ForCausalLM"  # as pretraining.new_gpt2 sets it: no warning about GPT-2's older class name
    return model.to(device).eval(), TrainerState.load_from_json(str(state)).log_history
