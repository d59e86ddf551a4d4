"""Environment variables have one prefix; a kernel without the requirements is told what to install."""

import re
from importlib.metadata import version
from pathlib import Path

import pytest

from utils import settings
from utils.settings import check_requirements, setting


def test_new_name_wins_over_the_old(monkeypatch):
    monkeypatch.setenv("LLM_TUTORIAL_DEVICE", "cpu")
    monkeypatch.setenv("TUTORIAL_DEVICE", "cuda")
    assert setting("DEVICE") == "cpu"


def test_empty_means_unset(monkeypatch):
    monkeypatch.setenv("LLM_TUTORIAL_OUTPUT", "  ")
    monkeypatch.delenv("TUTORIAL_OUTPUT", raising=False)
    assert setting("OUTPUT", "build") == "build"


def test_an_unknown_setting_is_a_programming_error():
    with pytest.raises(KeyError, match="Unknown setting 'PROFIL'"):
        setting("PROFIL")


REQUIREMENTS = Path(__file__).resolve().parents[1] / "requirements.txt"


def test_the_pinned_environment_passes_and_every_notebook_package_is_pinned():
    check_requirements()
    pinned = {line.split("==")[0].strip().lower() for line in REQUIREMENTS.read_text().splitlines() if "==" in line}
    assert set(settings.NOTEBOOK_PACKAGES) <= pinned
    assert set(settings.NOT_OLDER) <= set(settings.NOTEBOOK_PACKAGES)


def pins(path: Path) -> dict[str, str]:
    lines = (line.split("#")[0].partition("==") for line in path.read_text().splitlines())
    return {name.strip().lower(): pin.strip() for name, _, pin in lines if pin.strip()}


def test_the_notebooks_own_requirements_pin_their_kernels_packages_as_requirements_txt_does():
    notebooks, everything = pins(REQUIREMENTS.with_name("requirements-notebooks.txt")), pins(REQUIREMENTS)
    assert set(settings.NOTEBOOK_PACKAGES) | {"jupyterlab", "ipykernel"} <= set(notebooks)
    assert {name: everything.get(name) for name in notebooks} == notebooks  # the same releases CI tested
    assert not {"pytest", "nbval", "apache-beam", "playwright", "ruff"} & set(notebooks)  # the tooling stays out


def test_packages_only_the_tests_or_decks_need_are_not_asked_of_a_notebook_kernel(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text(REQUIREMENTS.read_text() + "no-such-test-tool==1.0   # tests only\n")
    check_requirements(req)


def test_a_missing_notebook_package_names_the_install_command(tmp_path, monkeypatch):
    req = tmp_path / "requirements.txt"
    req.write_text("torch==2.13.0\nno-such-package-xyz==1.0\n")
    monkeypatch.setattr(settings, "NOTEBOOK_PACKAGES", ("torch", "no-such-package-xyz"))
    with pytest.raises(ModuleNotFoundError, match=r"\) lacks no-such-package-xyz\. Install the requirements: "
                                                   r".* -m pip install -r .*requirements.txt"):
        check_requirements(req)


def test_an_older_release_of_a_library_the_notebooks_call_is_refused(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text(REQUIREMENTS.read_text().replace("transformers==", "transformers==99.0  # was "))
    installed = version("transformers")
    with pytest.raises(ModuleNotFoundError, match=rf"has transformers {re.escape(installed)}, older than the 99\.0 "
                                                   r"the notebooks are tested with\. Install the requirements"):
        check_requirements(req)


def test_notebook_3s_output_folder_is_the_repositorys_build_from_any_working_folder(tmp_path, monkeypatch):
    from utils.support.files import settings_base

    monkeypatch.delenv("LLM_TUTORIAL_OUTPUT", raising=False)
    seen = set()
    for where in (tmp_path, tmp_path / "notebooks"):  # the repository root (VS Code), notebooks/ (Jupyter)
        where.mkdir(exist_ok=True)
        monkeypatch.chdir(where)
        seen.add(settings.output_folder("03_pretraining", "smoke"))
    assert seen == {settings_base() / "build" / "03_pretraining" / "smoke"}
    monkeypatch.setenv("LLM_TUTORIAL_OUTPUT", "runs")  # relative: from the repository root too
    assert settings.output_folder() == settings_base() / "runs"
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("LLM_TUTORIAL_OUTPUT", "~/runs")
    assert settings.output_folder("x") == tmp_path / "runs" / "x"


def test_the_write_probe_never_writes_through_a_link(tmp_path):
    import os

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / f".write-test-{os.getpid()}").symlink_to(victim)  # a link where a write probe could land
    assert settings.write_problem(tmp_path / "out") is None
    assert victim.read_text() == "precious"
    assert [p.name for p in (tmp_path / "out").iterdir()] == [f".write-test-{os.getpid()}"]


def test_a_path_in_the_repository_prints_from_its_root_and_one_outside_as_given(tmp_path):
    from utils.support.files import settings_base

    assert settings.shown_path(settings_base() / "build" / "03_pretraining" / "smoke") == "build/03_pretraining/smoke"
    assert settings.shown_path(tmp_path / "runs") == str(tmp_path / "runs")
