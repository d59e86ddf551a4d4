"""One profile mechanism for every notebook: a name, from the argument or $LLM_TUTORIAL_PROFILE."""

import pytest

from utils import profiles
from utils.profiles import PRETRAINING, choose_profile, describe_runs, first_run_reads_every_article

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
        second = profile | profile["byte_run"]
        assert second["epochs"] == 1 and second["max_train_chars"] is None, name
        assert second["train_docs"] >= profile["train_docs"], name
        assert "byte_run" not in profile["byte_run"], name


def test_the_parameters_table_lays_the_byte_run_over_the_first():
    first = dict(n_train=6, n_valid=3, train_docs=2, max_train_chars=12_000, context_length=64, n_layer=2, n_embd=32,
                 n_head=2, epochs=5, batch_size=6, gradient_accumulation_steps=3, learning_rate=1e-3, warmup_steps=4,
                 dropout=0.1, eval_every=7, eval_chunks=9)
    sizes = first | dict(byte_run=dict(train_docs=6, max_train_chars=None, n_layer=3, gradient_accumulation_steps=4,
                                           early_evals=(2, 5), dropout=0.0))
    table = [" ".join(line.split()) for line in describe_runs(sizes).splitlines()]
    # 6 chunks a step as 3 passes of 2; 4 passes do not divide 6 chunks, so the byte run takes them in one pass
    assert table == ["setting first run byte run",
                     "n_train / n_valid articles 6 / 3 6 / 3",
                     "train_docs 2 6",
                     "max_train_chars 12,000 whole",
                     "context_length 64 64",
                     "n_layer x n_embd, n_head 2 x 32, 2 3 x 32, 2",
                     "epochs 5 5",
                     "batch_size (passes x chunks) 6 (3 x 2) 6 (1 x 6)",
                     "learning_rate, warmup_steps 0.001, 4 0.001, 4",
                     "dropout 0.1 0",
                     "eval_every, eval_chunks 7, 9 7, 9 (also at 2, 5)"]
    lines = describe_runs(sizes).splitlines()  # the columns line up: each run's values start under its name
    for name in ("first run", "byte run"):
        start = lines[0].index(name)
        assert all(line[start - 1] == " " and line[start] != " " for line in lines), name


def test_only_a_first_run_on_every_whole_article_stands_for_the_every_article_run():
    assert [first_run_reads_every_article(PRETRAINING[name]) for name in ("smoke", "classroom", "full")] == [
        False, False, True]
    whole_but_fewer = PRETRAINING["classroom"] | {"max_train_chars": None}  # 4 whole articles of 50: not every one
    assert not first_run_reads_every_article(whole_but_fewer)
