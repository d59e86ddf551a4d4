"""One profile mechanism for every notebook: a name, from the argument or $LLM_TUTORIAL_PROFILE."""

import pytest

from utils import profiles
from utils.profiles import choose_profile

NOTEBOOK = {"smoke": {"steps": 2}, "classroom": {"steps": 200}}


@pytest.fixture(autouse=True)
def no_profile_set(monkeypatch):
    for var in ("LLM_TUTORIAL_PROFILE", "TUTORIAL_PROFILE"):
        monkeypatch.delenv(var, raising=False)


def test_default_argument_and_env_choice(monkeypatch):
    assert choose_profile(NOTEBOOK) == ("classroom", {"steps": 200})
    assert choose_profile(NOTEBOOK, "smoke") == ("smoke", {"steps": 2})
    monkeypatch.setenv("LLM_TUTORIAL_PROFILE", "smoke")
    assert choose_profile(NOTEBOOK) == ("smoke", {"steps": 2})


def test_the_old_variable_still_works_with_a_warning(monkeypatch):
    monkeypatch.setenv("TUTORIAL_PROFILE", "smoke")
    with pytest.warns(FutureWarning, match="renamed LLM_TUTORIAL_PROFILE"):
        assert choose_profile(NOTEBOOK) == ("smoke", {"steps": 2})


def test_a_notebook_without_that_profile_uses_its_classroom_sizes():
    assert choose_profile(profiles.MASKED_LM, "smoke") == ("classroom", profiles.MASKED_LM["classroom"])


def test_unknown_profile_lists_the_choices(monkeypatch):
    monkeypatch.setenv("LLM_TUTORIAL_PROFILE", "huge")
    with pytest.raises(ValueError, match=r"Unknown profile 'huge' \(from \$LLM_TUTORIAL_PROFILE\).*smoke, classroom"):
        choose_profile(NOTEBOOK)


def test_the_settings_are_a_copy():
    _, settings = choose_profile(profiles.PRETRAINING, "smoke")
    settings["epochs"] = 99
    assert profiles.PRETRAINING["smoke"]["epochs"] == 4


def test_no_profile_repeats_another():
    for notebook in (profiles.MASKED_LM, profiles.CAUSAL_LM, profiles.PRETRAINING):
        values = [repr(sorted(p.items())) for p in notebook.values()]
        assert len(set(values)) == len(values)


def test_each_pretraining_profile_has_a_second_run_that_reads_every_article_once():
    for name, profile in profiles.PRETRAINING.items():
        second = profile | profile["learning_run"]
        assert second["epochs"] == 1 and second["max_train_chars"] is None, name
        assert second["train_docs"] >= profile["train_docs"], name
        assert "learning_run" not in profile["learning_run"], name
