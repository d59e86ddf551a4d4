"""The Hugging Face Hub, asked carefully: are we offline, does it answer, and is a repo's copy complete?

Every Hub load in this project goes through here, for models, tokenizers and datasets alike. A repo is
used from a *complete* local copy only: a snapshot folder that holds every file the model or tokenizer
needs. A cache that holds only ``config.json`` is not a tokenizer (transformers would silently build an
empty one from it), and a missing weights file must not send transformers off to convert weights.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

HUB_TIMEOUT_S = 5.0

# The files a repo may hold for each kind of load, top level only.
_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
_TOKENIZER = ("tokenizer.json", "vocab.json", "merges.txt", "vocab.txt", "tokenizer.model", "spiece.model",
              "sentencepiece.bpe.model", "special_tokens_map.json", "added_tokens.json", "tokenizer_config.json")
FILES = {
    "model": ("config.json", "generation_config.json", *_WEIGHTS),
    "tokenizer": ("config.json", *_TOKENIZER),
}


class HubError(RuntimeError):
    """The Hub answered, but what it holds cannot be used; the message says what is wrong."""


def offline() -> bool:
    """True when HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set to a true value."""
    return any(os.environ.get(v, "").strip().upper() in {"1", "ON", "YES", "TRUE"}
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def reachable(name: str, repo_type: str = "model", timeout: float = HUB_TIMEOUT_S) -> bool:
    """True if the Hub answers for the repo ``name`` (a model, or ``repo_type="dataset"``) within ``timeout`` s.

    False when the network or the Hub itself fails (no route, refused, timeout, a 5xx answer); a HubError when
    the Hub answers that no such repo can be had (a wrong name, or a gated or private repo).
    """
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    try:
        HfApi().repo_info(name, repo_type=repo_type, timeout=timeout)
        return True
    except GatedRepoError as exc:
        raise HubError(f"The Hub's {repo_type} {name} is gated: accept its terms on the Hub and log in "
                       "(`hf auth login`), or use the offline stand-in with HF_HUB_OFFLINE=1.") from exc
    except RepositoryNotFoundError as exc:
        raise HubError(f"The Hub has no {repo_type} called {name!r} (or it is private). Check the name.") from exc
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status is not None and status < 500:
            raise HubError(f"The Hub refused {name!r} (HTTP {status}): {exc}") from exc
        return False
    except Exception:  # the network: DNS, refused, timeout, proxy, offline mode
        return False


def missing_files(present: set[str], kinds: tuple[str, ...]) -> list[str]:
    """What a folder holding the files ``present`` lacks to load ``kinds`` ("model", "tokenizer"); [] if nothing.

    (The shards a ``model.safetensors.index.json`` names are checked against the folder itself.)
    """
    missing = []
    if "model" in kinds:
        if "config.json" not in present:
            missing.append("config.json")
        if not present & set(_WEIGHTS):
            missing.append("model.safetensors (weights in safetensors format)")
    if "tokenizer" in kinds:
        vocab = ({"tokenizer.json"}, {"vocab.json", "merges.txt"}, {"vocab.txt"}, {"tokenizer.model"},
                 {"spiece.model"}, {"sentencepiece.bpe.model"})
        if not any(files <= present for files in vocab):
            missing.append("a vocabulary (tokenizer.json, vocab.json + merges.txt, vocab.txt or tokenizer.model)")
        if not present & {"tokenizer_config.json", "config.json"}:
            missing.append("tokenizer_config.json")
    return missing


def _shards(folder: Path) -> list[str]:
    index = folder / "model.safetensors.index.json"
    return sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.is_file() else []


def _files_in(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.is_file()}  # is_file() follows the cache's symlinks


def _missing_in(folder: Path, kinds: tuple[str, ...]) -> list[str]:
    present = _files_in(folder)
    shards = _shards(folder) if "model" in kinds else []
    return missing_files(present, kinds) + [s for s in shards if s not in present]


def unsafe_in(folder: Path) -> str | None:
    """Why loading ``folder`` could run code that is not the libraries', or None: a config whose ``auto_map`` names
    the folder's own Python classes, or a weights index naming a shard that is not safetensors (a pickle, which
    ``torch.load`` would unpickle)."""
    config = folder / "config.json"
    try:
        if config.is_file() and json.loads(config.read_text()).get("auto_map"):
            return "its config.json maps classes to Python code shipped in the folder (auto_map)"
    except (ValueError, AttributeError):
        pass  # not a JSON object: the loader's own check reports it
    try:
        shards = _shards(folder)
    except (ValueError, KeyError, TypeError, AttributeError):
        return "its model.safetensors.index.json is not a valid weights index"
    unsafe = [s for s in shards if not (isinstance(s, str) and s.endswith(".safetensors") and "/" not in s)]
    if unsafe:
        return f"its weights index names {', '.join(map(str, unsafe))}, not .safetensors files in the folder"
    return None


def refuse_unsafe(folder: Path, what: str) -> None:
    """HubError, before anything is loaded, if ``folder`` could run code (``unsafe_in``)."""
    reason = unsafe_in(folder)
    if reason:
        raise HubError(f"{what} is not loaded: {reason}. This project loads only safetensors weights and never "
                       "runs a model's own code (trust_remote_code=False); use a folder written by "
                       "save_pretrained() from a built-in model class.")


def local_folder(path: str | Path, kinds: tuple[str, ...]) -> Path:
    """A folder on disk (e.g. what ``save_pretrained`` or ``trainer.save_model`` wrote) checked to hold all
    ``kinds`` need and nothing that could run code; HubError naming what is wrong otherwise."""
    folder = Path(path).expanduser()
    refuse_unsafe(folder, f"The folder {folder}")
    missing = _missing_in(folder, kinds)
    if missing:
        raise HubError(f"The folder {folder} lacks {', '.join(missing)}, so it cannot be loaded as a "
                       f"{' and '.join(kinds)}. Point at a folder written by save_pretrained() or "
                       "trainer.save_model() (with the tokenizer saved beside the model).")
    return folder


def cached_snapshot(name: str, kinds: tuple[str, ...]) -> Path | None:
    """The local Hub cache's folder for ``name`` (its ``main`` revision) if it holds all ``kinds`` need."""
    from huggingface_hub import constants

    repo = Path(constants.HF_HUB_CACHE) / f"models--{name.replace('/', '--')}"
    ref = repo / "refs" / "main"
    if not ref.is_file():
        return None
    folder = repo / "snapshots" / ref.read_text().strip()
    if not folder.is_dir() or _missing_in(folder, kinds):
        return None
    refuse_unsafe(folder, f"The cached {name}")
    return folder


def download_snapshot(name: str, kinds: tuple[str, ...]) -> Path:
    """Download (or reuse) exactly the files ``kinds`` need from the Hub; the local folder holding them."""
    from huggingface_hub import snapshot_download

    patterns = sorted({f for kind in kinds for f in FILES[kind]} | {"model-*.safetensors"})
    folder = Path(snapshot_download(name, allow_patterns=patterns))
    refuse_unsafe(folder, f"The Hub's {name}")
    missing = _missing_in(folder, kinds)
    if missing:
        raise HubError(f"The Hub's {name} lacks {', '.join(missing)}, so it cannot be loaded as a "
                       f"{' and '.join(kinds)} here (only safetensors weights are loaded).")
    return folder
