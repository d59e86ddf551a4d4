"""The Hugging Face Hub, asked carefully: are we offline, does it answer, and is a repo's copy complete?

Every Hub load in this project goes through here, for models, tokenizers and datasets alike. A repo is
used from a *complete* local copy only: a snapshot folder that holds every file the model or tokenizer
needs. A cache that holds only ``config.json`` is not a tokenizer (transformers would silently build an
empty one from it), and a missing weights file must not send transformers off to convert weights.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import socket
from pathlib import Path
from urllib.parse import urlsplit

from utils.support.files import FileProblem, read_json

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


def _endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def _network_reason(exc: BaseException, endpoint: str, timeout: float) -> str:
    """Why the Hub could not be asked, in words: refused, no such address, no answer in time, or what failed."""
    chain, seen = [], exc
    while seen is not None and len(chain) < 10:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return f"the Hub at {endpoint} refused the connection"
    if any(isinstance(e, socket.gaierror) for e in chain):
        return f"no network, {urlsplit(endpoint).hostname} could not be looked up"
    if any(isinstance(e, TimeoutError) or "Timeout" in type(e).__name__ for e in chain):
        return f"the Hub did not answer within {timeout:.0f} s"
    detail = (str(chain[-1]).strip().splitlines() or [""])[0][:100]
    return f"the Hub at {endpoint} could not be reached ({type(chain[-1]).__name__}: {detail})"


def unreachable_reason(name: str, repo_type: str = "model", timeout: float = HUB_TIMEOUT_S) -> str | None:
    """None if the Hub answers for the repo ``name`` (a model, or ``repo_type="dataset"``) within ``timeout`` s; else
    why not, in words (a wrong $HF_ENDPOINT, refused, no address, no answer in time, a 5xx answer). A HubError when
    the Hub answers that no such repo can be had (a wrong name, or a gated or private repo)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    endpoint = _endpoint()
    if urlsplit(endpoint).scheme not in ("http", "https") or not urlsplit(endpoint).hostname:
        return f"$HF_ENDPOINT={endpoint!r} is not an http(s) URL (fix it, or unset it to use the Hub)"
    try:
        HfApi().repo_info(name, repo_type=repo_type, timeout=timeout)
        return None
    except GatedRepoError as exc:
        raise HubError(f"The Hub's {repo_type} {name} is gated: accept its terms on the Hub and log in "
                       "(`hf auth login`), or use the offline stand-in with HF_HUB_OFFLINE=1.") from exc
    except RepositoryNotFoundError as exc:
        raise HubError(f"The Hub has no {repo_type} called {name!r} (or it is private). Check the name.") from exc
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status is not None and status < 500:
            raise HubError(f"The Hub refused {name!r} (HTTP {status}): {exc}") from exc
        return f"the Hub at {endpoint} answered HTTP {status} (a server error)"
    except Exception as exc:  # noqa: BLE001 (the network: DNS, refused, timeout, proxy, offline mode)
        return _network_reason(exc, endpoint, timeout)


def reachable(name: str, repo_type: str = "model", timeout: float = HUB_TIMEOUT_S) -> bool:
    """True if the Hub answers for the repo ``name`` within ``timeout`` s (``unreachable_reason`` says why not)."""
    return unreachable_reason(name, repo_type, timeout) is None


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
    return sorted(set(read_json(index, "the weights index")["weight_map"].values())) if index.is_file() else []


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
        if config.is_file() and read_json(config).get("auto_map"):
            return "its config.json maps classes to Python code shipped in the folder (auto_map)"
    except FileProblem:
        pass  # damaged: damaged_in says so
    try:
        shards = _shards(folder)
    except (ValueError, KeyError, TypeError, AttributeError):  # FileProblem is a ValueError
        return "its model.safetensors.index.json is not a valid weights index"
    unsafe = [s for s in shards if not (isinstance(s, str) and s.endswith(".safetensors") and "/" not in s)]
    if unsafe:
        return f"its weights index names {', '.join(map(str, unsafe))}, not .safetensors files in the folder"
    return None


# The safetensors library refuses a header over 100 MB; each dtype's bytes per value, to check a tensor's extent.
SAFETENSORS_HEADER_MAX = 100 * 2**20
_DTYPE_BYTES = {"F64": 8, "I64": 8, "U64": 8, "C64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2, "I16": 2,
                "U16": 2, "I8": 1, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1}
# A tokenizer or config file larger than this is not one (the largest real tokenizer.json files are tens of MB).
MAX_TEXT_FILE_BYTES = 100 * 2**20


def safetensors_problem(path: Path) -> str | None:
    """Why the safetensors file ``path`` is damaged, or None: its header must fit in the file (and in 100 MB), be a
    JSON object, and place every tensor inside the file with the extent its shape and dtype take."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        length = int.from_bytes(head, "little") if len(head) == 8 else None
        if length is None or length > min(SAFETENSORS_HEADER_MAX, size - 8):
            return (f"its {path.name} is damaged: its header claims {length or 0:,} bytes but the file holds "
                    f"{size:,} in all")
        raw = f.read(length)
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError):
        return f"its {path.name} has a damaged header (not JSON)"
    data = size - 8 - length
    for key, entry in header.items() if isinstance(header, dict) else [("?", None)]:
        if key == "__metadata__":
            continue
        offsets, shape = (entry.get("data_offsets"), entry.get("shape")) if isinstance(entry, dict) else (None, None)
        if not (isinstance(offsets, list) and len(offsets) == 2 and isinstance(shape, list)
                and all(type(n) is int and n >= 0 for n in offsets + shape)):
            return f"its {path.name} has a damaged header (tensor {str(key)[:60]!r} is not described)"
        width = _DTYPE_BYTES.get(entry.get("dtype"))
        if not offsets[0] <= offsets[1] <= data or (width and math.prod(shape) * width != offsets[1] - offsets[0]):
            return (f"its {path.name} is damaged: tensor {str(key)[:60]!r} ({'x'.join(map(str, shape))}) does not "
                    "lie within the file")
    return None


def damaged_in(folder: Path) -> str | None:
    """Why a file the loaders read in ``folder`` is damaged, or None: a config or tokenizer file far too large, a
    JSON file that is not JSON (or nested too deep to be real), a safetensors file whose header does not fit it."""
    if not folder.is_dir():
        return None
    for name in sorted(_files_in(folder) & (set(_TOKENIZER) | set(FILES["model"]))):
        path = folder / name
        if path.stat().st_size > MAX_TEXT_FILE_BYTES and not name.endswith(".safetensors"):
            return f"its {name} is {path.stat().st_size / 2**20:,.0f} MB, far larger than any real one"
        if name.endswith(".json"):
            try:
                read_json(path)
            except FileProblem as exc:
                return f"its {name} {exc.reason}"
    for name in ["model.safetensors", *_shards_or_none(folder)]:
        if (folder / name).is_file():
            problem = safetensors_problem(folder / name)
            if problem:
                return problem
    return None


def _shards_or_none(folder: Path) -> list[str]:
    try:
        return [s for s in _shards(folder) if isinstance(s, str) and "/" not in s]
    except (ValueError, KeyError, TypeError, AttributeError):
        return []


def refuse_unsafe(folder: Path, what: str) -> None:
    """HubError, before anything is loaded, if ``folder`` could run code (``unsafe_in``) or holds a damaged file
    (``damaged_in``)."""
    reason = unsafe_in(folder)
    if reason:
        raise HubError(f"{what} is not loaded: {reason}. This project loads only safetensors weights and never "
                       "runs a model's own code (trust_remote_code=False); use a folder written by "
                       "save_pretrained() from a built-in model class.")
    damage = damaged_in(folder)
    if damage:
        raise HubError(f"{what} is not loaded: {damage}. Download or save it again (save_pretrained() writes a "
                       "complete folder).")


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


def changed_in(folder: Path, kinds: tuple[str, ...] = ("model", "tokenizer")) -> str | None:
    """Why a file that loading ``kinds`` reads from a Hub cache snapshot differs from what the Hub sent, or None (a
    tokenizer's load leaves the weights unread). The cache names the blob of each file stored in git LFS (the
    weights; in some repos the tokenizer too) by the sha256 the Hub gave it; each is hashed again here. Small files
    (named by their git hash) are only parsed, by ``refuse_unsafe``, as is a folder of one's own."""
    read = {f for kind in kinds for f in FILES[kind]} | set(_shards_or_none(folder) if "model" in kinds else ())
    for name in sorted(_files_in(folder) & read):
        path = folder / name
        given = path.resolve().name
        if not re.fullmatch(r"[0-9a-f]{64}", given):
            continue
        with path.open("rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        if digest != given:
            return (f"its {name} is not the file the Hub sent (its sha256 is {digest[:12]}..., the Hub's "
                    f"{given[:12]}...)")
    return None


def refuse_changed(folder: Path, what: str, kinds: tuple[str, ...]) -> None:
    """HubError if a file that loading ``kinds`` reads from the Hub cache snapshot ``folder`` is not what the Hub
    sent (``changed_in``)."""
    change = changed_in(folder, kinds)
    if change:
        raise HubError(f"{what} is not loaded: {change}. Delete {folder.parent.parent} (the whole cached repo) and "
                       "load again: it will be downloaded afresh.")


def cached_snapshot(name: str, kinds: tuple[str, ...]) -> Path | None:
    """The local Hub cache's folder for ``name`` (its ``main`` revision) if it holds all ``kinds`` need, each file
    checked against the hash the Hub gave it."""
    from huggingface_hub import constants

    repo = Path(constants.HF_HUB_CACHE) / f"models--{name.replace('/', '--')}"
    ref = repo / "refs" / "main"
    if not ref.is_file():
        return None
    folder = repo / "snapshots" / ref.read_text().strip()
    if not folder.is_dir() or _missing_in(folder, kinds):
        return None
    refuse_unsafe(folder, f"The cached {name}")
    refuse_changed(folder, f"The cached {name}", kinds)
    return folder


def download_snapshot(name: str, kinds: tuple[str, ...]) -> Path:
    """Download (or reuse) exactly the files ``kinds`` need from the Hub; the local folder holding them."""
    from huggingface_hub import snapshot_download

    patterns = sorted({f for kind in kinds for f in FILES[kind]} | {"model-*.safetensors"})
    folder = Path(snapshot_download(name, allow_patterns=patterns))
    refuse_unsafe(folder, f"The Hub's {name}")
    refuse_changed(folder, f"The Hub's {name}", kinds)
    missing = _missing_in(folder, kinds)
    if missing:
        raise HubError(f"The Hub's {name} lacks {', '.join(missing)}, so it cannot be loaded as a "
                       f"{' and '.join(kinds)} here (only safetensors weights are loaded).")
    return folder
