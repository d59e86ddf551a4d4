"""The project's own files, read and written safely: JSON that may be damaged, paths as the user typed them, and
writes that never follow a symbolic link.

- ``read_json``: every JSON file the project reads (cache manifests, checkpoint markers, model configs) comes
  through here. A missing, oversized, damaged, too deeply nested or wrongly shaped file is one ``FileProblem`` (a
  ValueError) with a one-line message, never a RecursionError or an AttributeError.
- ``user_path``: a path the user gave (a flag, a variable), with ``~`` expanded and made absolute once, so every
  part of a run uses the same folder.
- ``write_atomic`` and ``open_no_follow``: what the project writes (locks, markers, checkpoints, decks, the cache)
  goes to a new temporary file in the same folder, renamed into place; a symbolic link planted where a file goes
  is refused or replaced, never written through.

The bottom of ``utils``: it imports nothing from the project.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]  # the checkout: notebooks/, utils/, the Makefile
MAX_JSON_BYTES = 100 * 2**20  # a config, manifest or marker is kilobytes; the largest tokenizer.json tens of MB
MAX_JSON_DEPTH = 100  # real files nest under 10 deep; the tokenizers library refuses past 128


_JSON_NAMES = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean",
               type(None): "null"}


class FileProblem(ValueError):
    """A file the project reads or writes is missing, damaged or in the way; the message says which and why, and
    ``reason`` says why without naming the file."""

    def __init__(self, message: str, reason: str = ""):
        super().__init__(message)
        self.reason = reason or message


def json_depth(value) -> int:
    """How deeply lists and dicts nest in ``value`` (a number or a string is 0 deep), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def read_json(path: str | Path, what: str = "", expect: type = dict, max_bytes: int = MAX_JSON_BYTES):
    """The JSON value in ``path`` when it is an ``expect`` (dict by default); one FileProblem naming ``what`` (the
    file's role, e.g. "the cache manifest") when the file is missing, larger than ``max_bytes``, not UTF-8 JSON,
    nested deeper than MAX_JSON_DEPTH, or holds another type."""
    path = Path(path)

    def problem(reason: str) -> FileProblem:
        return FileProblem(f"{what} {path} {reason}." if what else f"{path} {reason}.", reason)

    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise problem(f"is {size / 2**20:,.0f} MB, more than the {max_bytes / 2**20:,.0f} MB such a file can be: "
                          "it is not the file it should be")
        value = json.loads(path.read_bytes().decode("utf-8"))
    except FileProblem:
        raise
    except OSError as exc:
        raise problem(f"cannot be read ({exc.strerror or exc})") from None
    except RecursionError:
        raise problem("is nested too deeply to be a real JSON file: it is damaged") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise problem(f"is not valid JSON ({str(exc).splitlines()[0][:80]}): it is damaged") from None
    if not isinstance(value, expect):
        raise problem(f"holds a JSON {_JSON_NAMES.get(type(value), 'value')} where a JSON "
                      f"{_JSON_NAMES.get(expect, expect.__name__)} belongs: it is damaged")
    if json_depth(value) > MAX_JSON_DEPTH:
        raise problem(f"is nested more than {MAX_JSON_DEPTH} deep: it is damaged")
    return value


def settings_base() -> Path:
    """Where a relative path in an ``LLM_TUTORIAL_*`` variable starts: the repository root, so that a notebook's
    kernel (working in notebooks/) and a command run from the root mean the same folder; outside a checkout (an
    installed copy), the working folder."""
    return REPOSITORY if (REPOSITORY / "notebooks").is_dir() else Path.cwd()


def user_path(value: str | os.PathLike, base: Path | None = None) -> Path:
    """A path the user gave, made absolute once: ``~`` expanded (also after ``--flag=``, where the shell does not),
    and a relative path taken from ``base`` (default: the working folder)."""
    path = Path(os.path.expanduser(os.fspath(value)))
    return Path(os.path.abspath(path if path.is_absolute() else (base or Path.cwd()) / path))


def refuse_link(path: Path, what: str = "") -> None:
    """FileProblem when ``path`` is a symbolic link: the project writes its own files, never through a link."""
    if path.is_symlink():
        raise FileProblem(f"{what or path} is a symbolic link (to {os.readlink(path)}); refusing to write through "
                          "it. Remove the link, then run again.")


def open_no_follow(path: Path, flags: int, mode: int = 0o644) -> int:
    """``os.open`` that refuses a symbolic link or a folder at ``path`` with one FileProblem; the open descriptor."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError:
        if path.is_symlink() or path.is_dir():
            kind = "a symbolic link" if path.is_symlink() else "a folder"
            raise FileProblem(f"{path} is {kind}, not a file the project wrote; refusing to use it. Remove it, "
                              "then run again.") from None
        raise
    return fd


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` all at once: a new temporary file beside it (never an existing file, never through
    a link), renamed over ``path`` (a link there is replaced, not followed). OSError (a full disk) leaves nothing."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data.encode() if isinstance(data, str) else data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def take_lock(path: Path):
    """(an open file holding the exclusive lock on ``path``, None), or (None, what the holder wrote in it: "pid N")
    when another process holds it. The lock file is never a link (FileProblem); the lock lasts while the file is
    open, and goes when the process ends, however it ends."""
    handle = os.fdopen(open_no_follow(path, os.O_RDWR | os.O_CREAT), "r+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = handle.read().strip() or "another process"
        handle.close()
        return None, holder
    handle.seek(0), handle.truncate(), handle.write(f"pid {os.getpid()}"), handle.flush()
    return handle, None
