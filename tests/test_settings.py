"""Environment variables have one prefix; a kernel without the requirements is told what to install."""

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


def test_requirements_present_pass(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("# comment\ntorch==2.13.0        # a comment\n\npytest==9.2.0\n")
    check_requirements(req)


def test_a_missing_requirement_names_the_install_command(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("torch==2.13.0\nno-such-package-xyz==1.0   # not installed\n")
    with pytest.raises(ModuleNotFoundError, match=r"lacks no-such-package-xyz==1.0\. Install the requirements: "
                                                   r".* -m pip install -r .*requirements.txt"):
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
