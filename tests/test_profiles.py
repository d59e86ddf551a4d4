import pytest

from utils.profiles import choose_profile

PROFILES = {"smoke": {"steps": 2}, "classroom": {"steps": 200}}


def test_default_and_env_choice(monkeypatch):
    monkeypatch.delenv("TUTORIAL_PROFILE", raising=False)
    assert choose_profile(PROFILES) == ("classroom", {"steps": 200})
    monkeypatch.setenv("TUTORIAL_PROFILE", "smoke")
    assert choose_profile(PROFILES) == ("smoke", {"steps": 2})


def test_unknown_profile_lists_the_choices(monkeypatch):
    monkeypatch.setenv("TUTORIAL_PROFILE", "huge")
    with pytest.raises(ValueError, match="Unknown profile 'huge'.*Choose one of: smoke, classroom"):
        choose_profile(PROFILES)
