"""The environment variables the tutorial reads, all named ``LLM_TUTORIAL_*`` (README has the table).

The older ``TUTORIAL_*`` names still work for this release, with a warning.
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from utils.support.files import settings_base, user_path

PREFIX = "LLM_TUTORIAL_"
OLD_PREFIX = "TUTORIAL_"  # read until the next release

VARIABLES = {
    "PROFILE": "smoke, classroom or full: the sizes every notebook's parameters cell picks (default classroom)",
    "DEVICE": "cpu, cuda, cuda:N or mps: overrides the automatic device choice",
    "MASKED_LM": "the Hub model notebook 1 loads (default bert-base-uncased)",
    "CAUSAL_LM": "the Hub model notebook 2 loads (default gpt2)",
    "OUTPUT": "where notebook 3 writes its checkpoints and trained model (default build/ in the repository; a "
              "relative path starts at the repository root)",
    "CACHE": "the folder of offline assets and parsed dumps (default $XDG_CACHE_HOME/llm-tutorial; a relative path "
             "starts at the repository root)",
    "WIDGETS": "on or off: off draws each live or interactive view once, with default values (CI, make record)",
}


def setting(name: str, default: str | None = None) -> str | None:
    """``$LLM_TUTORIAL_<name>`` (or the older ``$TUTORIAL_<name>``), stripped; ``default`` when unset or empty."""
    if name not in VARIABLES:
        raise KeyError(f"Unknown setting {name!r}; the settings are {', '.join(VARIABLES)}.")
    value = os.environ.get(PREFIX + name, "").strip()
    if not value and os.environ.get(OLD_PREFIX + name, "").strip():
        value = os.environ[OLD_PREFIX + name].strip()
        warnings.warn(f"{OLD_PREFIX}{name} is renamed {PREFIX}{name}; the old name stops working in the next "
                      "release.", FutureWarning, stacklevel=2)
    return value or default


def widgets_on() -> bool:
    """False when $LLM_TUTORIAL_WIDGETS is off/0/no/false: draw each live or interactive view once."""
    value = (setting("WIDGETS", "on") or "on").lower()
    if value in ("on", "1", "yes", "true"):
        return True
    if value in ("off", "0", "no", "false"):
        return False
    raise ValueError(f"$LLM_TUTORIAL_WIDGETS={value!r}: use on or off.")


def write_problem(folder: Path) -> str | None:
    """Why ``folder`` cannot be created or written (e.g. "Read-only file system"), or None: it makes the folder and
    creates and removes a new probe file (a fresh name, never an existing file or a link)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return str(exc.strerror or exc)
    return None


def output_folder(*parts: str) -> Path:
    """Where notebook 3 writes (its checkpoints and trained model), joined with ``parts``: $LLM_TUTORIAL_OUTPUT
    (``~`` expanded; a relative path starts at the repository root), else build/ in the repository, whatever
    folder the kernel runs in."""
    output = setting("OUTPUT")
    base = user_path(output, settings_base()) if output else settings_base() / "build"
    return base.joinpath(*parts)


def shown_path(path: str | os.PathLike) -> str:
    """``path`` as a reader wants it printed: from the repository root where it lies inside it (``build/...``), so
    no machine's own folders show; else as given."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(settings_base().resolve()))
    except ValueError:
        return str(path)


def check_environment() -> None:
    """One clear ValueError for a bad ``LLM_TUTORIAL_*`` value that a later cell would only trip over minutes in:
    $LLM_TUTORIAL_WIDGETS that is neither on nor off, an $LLM_TUTORIAL_OUTPUT that cannot be written. Every
    notebook's parameters cell runs it (through ``profiles.choose_profile``)."""
    widgets_on()
    output = setting("OUTPUT")
    problem = None if output is None else write_problem(output_folder())
    if problem:
        raise ValueError(f"{source('OUTPUT')}={output!r} cannot be written ({problem}): point it at a writable "
                         "folder, or unset it to use build/ in the repository.")


def source(name: str) -> str:
    """The variable a setting came from, for messages: ``$LLM_TUTORIAL_<name>`` (or the old name if that was used)."""
    if not os.environ.get(PREFIX + name, "").strip() and os.environ.get(OLD_PREFIX + name, "").strip():
        return f"${OLD_PREFIX}{name}"
    return f"${PREFIX}{name}"


# The packages a notebook's kernel imports, pinned in requirements-notebooks.txt (requirements.txt, which pins the same
# releases, also holds the tests', the decks' and the Beam path's);
# for those whose APIs the notebooks call by name, a release older than the pinned one is refused too.
NOTEBOOK_PACKAGES = ("torch", "transformers", "tokenizers", "safetensors", "accelerate", "datasets", "gguf",
                     "tiktoken", "mwparserfromhell", "matplotlib", "tqdm", "ipywidgets")
NOT_OLDER = ("torch", "transformers", "tokenizers", "accelerate", "datasets")


def check_requirements(requirements: Path | None = None) -> None:
    """One clear error if this kernel lacks a package the notebooks need (``NOTEBOOK_PACKAGES``), or holds a release
    of one of ``NOT_OLDER`` older than ``requirements`` pins (default: the notebooks' own, requirements-notebooks.txt).
    """
    from packaging.version import Version

    requirements = requirements or Path(__file__).resolve().parents[1] / "requirements-notebooks.txt"
    if not requirements.is_file():  # installed without the repository: pip resolved the dependencies
        return
    pins = {}
    for line in requirements.read_text().splitlines():
        name, _, pin = line.split("#")[0].strip().partition("==")
        if name:
            pins[name.strip().lower()] = pin.strip()
    problems = []
    for name in NOTEBOOK_PACKAGES:
        try:
            found = version(name)
        except PackageNotFoundError:
            problems.append(f"lacks {name}")
            continue
        pin = pins.get(name)
        if name in NOT_OLDER and pin and Version(Version(found).base_version) < Version(pin):
            problems.append(f"has {name} {found}, older than the {pin} the notebooks are tested with")
    if problems:
        raise ModuleNotFoundError(f"This kernel's Python ({sys.executable}) {'; '.join(problems)}. Install the "
                                  f"requirements: {sys.executable} -m pip install -r {requirements}")
