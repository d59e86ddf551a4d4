"""Pinned release files are fetched the way pip finds them, checked before anything opens them, and never run.

A local package index (``http.server``) or a find-links folder stands in for the registry, set through
PIP_INDEX_URL, PIP_FIND_LINKS and PIP_NO_INDEX as a user would; pip.conf is ignored (PIP_CONFIG_FILE).
"""

import functools
import hashlib
import http.server
import io
import os
import subprocess
import sys
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from utils.offline import assets, packages
from utils.offline.cache import AssetError
from utils.offline.packages import Archive, PackagedFile

ROOT = Path(__file__).resolve().parent.parent


def isolated_pip(env: dict, find_links: str | None = None, index: str | None = None) -> dict:
    """``env`` with pip told where to look, and nothing else: no pip.conf, no inherited PIP_* setting."""
    env = {k: v for k, v in env.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    if find_links:
        env["PIP_FIND_LINKS"] = find_links
    if index:
        env["PIP_INDEX_URL"] = index
    else:
        env["PIP_NO_INDEX"] = "1"
    return env


def use_pip(monkeypatch, find_links: str | None = None, index: str | None = None) -> None:
    for name in [n for n in os.environ if n.startswith("PIP_")]:
        monkeypatch.delenv(name)
    for name, value in isolated_pip({}, find_links, index).items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def index(tmp_path):
    """A package index on 127.0.0.1 serving ``tmp_path/site``: ``add(project, file)`` publishes a file under its
    project's page (PEP 503 HTML) and returns the index URL."""
    site = tmp_path / "site"
    (site / "simple").mkdir(parents=True)
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/simple"

    def add(project: str, file: Path) -> str:
        (site / "files").mkdir(exist_ok=True)
        (site / "files" / file.name).write_bytes(file.read_bytes())
        page = site / "simple" / project
        page.mkdir(exist_ok=True)
        (page / "index.html").write_text(f'<html><body><a href="../../files/{file.name}#sha256=0">{file.name}</a>'
                                         "</body></html>")
        return url

    yield add
    server.shutdown()


def wheel(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def pinned(path: Path, requirement: str = "toy==1.0") -> Archive:
    data = path.read_bytes()
    return Archive(requirement, path.name, len(data), hashlib.sha256(data).hexdigest())


def spec_for(archive: Archive, member: str, data: bytes, size: int | None = None) -> PackagedFile:
    return PackagedFile(archive, member, len(data) if size is None else size, hashlib.sha256(data).hexdigest())


# ---- the tampered sdist: nothing in it runs, nothing reaches the cache ----------------------------------------------

def tampered_whisper_sdist(folder: Path, marker: Path) -> Path:
    """An sdist named like the pinned openai-whisper release whose build backend and setup.py would write
    ``marker`` if anything ran them, with a gpt2.tiktoken where the real one is."""
    code = f"open({str(marker)!r}, 'w').write('ran')\n".encode()
    members = {"pyproject.toml": b'[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n',
               "backend.py": code + b"def get_requires_for_build_wheel(c=None):\n    return []\n",
               "setup.py": code, "PKG-INFO": b"Metadata-Version: 2.1\nName: openai-whisper\nVersion: 20250625\n",
               "whisper/assets/gpt2.tiktoken": b"IQ== 0\n"}
    path = folder / assets.GPT2_TIKTOKEN.archive.filename
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"openai_whisper-20250625/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("served_by", ["find-links folder", "package index"])
def test_a_tampered_sdist_runs_nothing_and_writes_nothing_to_the_cache(tmp_path, index, served_by):
    (tmp_path / "links").mkdir()
    marker = tmp_path / "PWNED"
    sdist = tampered_whisper_sdist(tmp_path / "links", marker)
    pip = {"find_links": str(tmp_path / "links")} if served_by == "find-links folder" else \
        {"index": index("openai-whisper", sdist)}
    env = isolated_pip({**os.environ, "LLM_TUTORIAL_CACHE": str(tmp_path / "cache")}, **pip)
    run = subprocess.run([sys.executable, "-m", "utils.offline.assets", "gpt2-tokenizer"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("error: Checksum mismatch for openai_whisper-20250625.tar.gz (openai-whisper==20250625")
    assert "nothing in it was opened or run" in last
    assert not marker.exists()
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [".gpt2-tokenizer.lock"]  # no asset, no temp folder


# ---- fetching from pip's sources ---------------------------------------------------------------------------------

def test_an_archive_is_fetched_from_a_local_index_checked_then_opened(tmp_path, index, monkeypatch):
    data = b"the pinned file's bytes\n"
    archive = pinned(wheel(tmp_path / "toy-1.0-py3-none-any.whl", {"toy/data.txt": data}))
    use_pip(monkeypatch, index=index("toy", tmp_path / archive.filename))
    spec = spec_for(archive, "toy/data.txt", data)
    out = packages.fetch([spec], tmp_path / "work")
    assert out[spec].read_bytes() == data
    assert not (tmp_path / "work" / "dl").exists()  # the archive itself is not kept


def test_a_find_links_folder_is_searched_before_the_index(tmp_path, monkeypatch):
    data = b"x"
    (tmp_path / "links").mkdir()
    archive = pinned(wheel(tmp_path / "links" / "toy-1.0-py3-none-any.whl", {"toy/x": data}))
    use_pip(monkeypatch, find_links=f"file://{tmp_path / 'links'}", index="http://127.0.0.1:9/simple")
    assert packages.find_archive(archive)[0] == str(tmp_path / "links" / archive.filename)


def test_pips_sources_follow_its_own_variables(monkeypatch):
    use_pip(monkeypatch, find_links="/a /b")
    assert packages.pip_sources()[:2] == (["/a", "/b"], [])
    use_pip(monkeypatch, index="http://127.0.0.1:1/simple")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "http://127.0.0.1:2/simple")
    assert packages.pip_sources()[1] == ["http://127.0.0.1:1/simple", "http://127.0.0.1:2/simple"]


def test_an_unreachable_registry_gives_one_clear_error(tmp_path, monkeypatch):
    use_pip(monkeypatch, index="http://user:secret@127.0.0.1:9/simple")
    with pytest.raises(AssetError, match="Could not download gensim==4.4.0 from the package registry") as raised:
        packages.download(assets.WIKI_SAMPLE.archive, tmp_path)
    assert "secret" not in str(raised.value) and "Check the network or your pip index settings" in str(raised.value)
    assert list(tmp_path.iterdir()) == []


def test_a_longer_download_is_cut_at_the_pinned_size_and_refused(tmp_path, index, monkeypatch):
    archive = pinned(wheel(tmp_path / "toy-1.0-py3-none-any.whl", {"toy/x": b"x"}))
    (tmp_path / archive.filename).write_bytes(b"\0" * (archive.size * 50))  # served in its place: much longer
    use_pip(monkeypatch, index=index("toy", tmp_path / archive.filename))
    with pytest.raises(AssetError, match=f"got a file of {archive.size + 1:,} bytes, not {archive.size:,}"):
        packages.download(archive, tmp_path / "dl")
    assert list((tmp_path / "dl").iterdir()) == []


# ---- what is copied out of a checked archive ---------------------------------------------------------------------

def test_a_member_larger_than_its_pinned_size_is_refused(tmp_path):
    bomb = b"\0" * 5_000_000  # a million-to-one zip member
    archive_path = wheel(tmp_path / "toy-1.0-py3-none-any.whl", {"toy/data.bin": bomb})
    spec = spec_for(pinned(archive_path), "toy/data.bin", b"small", size=5)
    (tmp_path / "out").mkdir()
    with pytest.raises(AssetError, match="is 5,000,000 bytes, not the pinned 5"):
        packages.extract(spec, archive_path, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_a_member_that_is_a_link_is_refused(tmp_path):
    path = tmp_path / "toy-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        link = tarfile.TarInfo("toy-1.0/data.txt")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    spec = spec_for(pinned(path), "toy-1.0/data.txt", b"data")
    (tmp_path / "out").mkdir()
    with pytest.raises(AssetError, match="is not a regular file"):
        packages.extract(spec, path, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_extract_checks_the_archive_before_opening_it(tmp_path):
    path = wheel(tmp_path / "toy-1.0-py3-none-any.whl", {"toy/data.txt": b"data"})
    spec = spec_for(Archive("toy==1.0", path.name, path.stat().st_size, "0" * 64), "toy/data.txt", b"data")
    with pytest.raises(AssetError, match="Checksum mismatch for toy-1.0-py3-none-any.whl"):
        packages.extract(spec, path, tmp_path)
    assert not path.exists() and not (tmp_path / "data.txt").exists()


def test_every_pinned_file_names_its_archive_and_size():
    specs = {spec for asset in assets.ASSETS.values() for spec in asset.sources}
    assert len(specs) == 6
    for spec in specs:
        assert spec.size > 0 and len(spec.sha256) == len(spec.archive.sha256) == 64
        assert spec.archive.filename.endswith((".whl", ".tar.gz")) and spec.archive.size > spec.size // 100
