"""Environment variables have one prefix; a kernel without the requirements is told what to install."""

import pytest

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
