"""The arithmetic the notebooks print adds up, in their recorded executions (docs/recorded/: classroom profile,
offline, written by `make record` from the notebooks as they are; a recording of other code fails here). The solved
copies (docs/solved/, `make solved`) are of the notebooks as they are too, and every check there accepts its reference.

A class catches a printed equation that is false ("40 epochs x 19 chunks / batch 8 = 120 steps").
Each printed equation is parsed back from the recorded output and recomputed here.
"""

import math
import re
from pathlib import Path

import nbformat
import pytest

from utils.support.solutions import solutions_module
from utils.tools import record
from utils.tools.record import PREDICTION, for_recording, with_predictions

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "docs" / "recorded"


@pytest.mark.parametrize("name", ["01_masked_lm.ipynb", "02_causal_lm.ipynb", "03_pretraining_gpt2.ipynb"])
def test_the_recording_is_of_the_notebook_as_it_is(name):
    """Every cell of the recording has the source of the notebook students open (make record refreshes it), but
    for the cells tagged ``prediction``, which hold the reference predictions, and the instructor notes of
    docs/instructor-notes/, which only the recording has (utils/tools/record.py)."""
    expected = [(c.id, c.cell_type, c.source) for c in for_recording(ROOT / "notebooks" / name).cells]
    recorded = [(c.id, c.cell_type, c.source) for c in nbformat.read(NOTEBOOKS / name, as_version=4).cells]
    assert recorded == expected, "docs/recorded/ is out of date: run make record"


def test_only_the_predictions_are_written_in_and_each_has_a_reference():
    for name in ("01_masked_lm.ipynb", "02_causal_lm.ipynb", "03_pretraining_gpt2.ipynb"):
        original = nbformat.read(ROOT / "notebooks" / name, as_version=4).cells
        filled = with_predictions(ROOT / "notebooks" / name).cells
        changed = [a.id for a, b in zip(original, filled) if a.source != b.source]
        tagged = [c.id for c in original if PREDICTION in c.metadata.get("tags", [])]
        assert changed == tagged and tagged, name  # every notebook asks for predictions


@pytest.mark.parametrize("name", ["01_masked_lm.ipynb", "02_causal_lm.ipynb", "03_pretraining_gpt2.ipynb"])
def test_the_solved_copy_is_of_the_notebook_as_it_is_and_every_check_accepts_its_reference(name):
    """docs/solved/ (make solved) is the recording with every answer cell holding its reference solution, and there
    each check cell printed what it prints for that solution: an instructor sees every exercise solved."""
    expected = for_recording(ROOT / "notebooks" / name, solved=True).cells
    solved = nbformat.read(ROOT / "docs" / "solved" / name, as_version=4).cells
    assert [(c.id, c.cell_type, c.source) for c in solved] == [(c.id, c.cell_type, c.source) for c in expected], \
        "docs/solved/ is out of date: run make solved"
    expected_verdicts = {cell_id: said for cell_id, (_, said) in solutions_module(name[:-6]).SOLUTIONS.items()}
    for i, cell in enumerate(solved):
        if cell.id in expected_verdicts and PREDICTION not in cell.metadata.get("tags", []):
            check = next(c for c in solved[i + 1:] if "exercise-check" in c.metadata.get("tags", []))
            said = "".join(o.get("text", "") for o in check.outputs)
            assert expected_verdicts[cell.id] in said, (name, cell.id, said)
    assert not [c.id for c in solved if c.cell_type == "code" and any(o.get("name") == "stderr" or
                                                                      o.output_type == "error" for o in c.outputs)]


def test_the_solved_copy_writes_in_every_answer_and_says_so():
    for name in ("01_masked_lm.ipynb", "02_causal_lm.ipynb", "03_pretraining_gpt2.ipynb"):
        original = nbformat.read(ROOT / "notebooks" / name, as_version=4).cells
        filled = with_predictions(ROOT / "notebooks" / name, solved=True).cells
        changed = {a.id: b.source for a, b in zip(original, filled) if a.source != b.source}
        assert set(changed) == set(record.reference_answers(ROOT / "notebooks" / name)), name
        assert all(source.startswith((record.SOLVED, record.RECORDED_GUESS)) for source in changed.values())


def test_a_note_goes_after_the_cell_its_marker_names_and_a_missing_cell_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(record, "reference_answers", lambda notebook: {})  # a notebook with no predictions
    notebook = tmp_path / "09_demo.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title", id="title"),
                                                   nbformat.v4.new_code_cell("x = 1", id="one")]), notebook)
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "09_demo.md").write_text("# Notes\n\n## Title\n\n<!-- cell n1 after title -->\nFirst.\n\nSecond.\n\n"
                                     "## One\n\n<!-- cell n2 after one -->\nLast.\n", encoding="utf-8")
    cells = for_recording(notebook, notes).cells
    assert [(c.id, c.source) for c in cells] == [("title", "# Title"), ("n1", "First.\n\nSecond."), ("one", "x = 1"),
                                                  ("n2", "Last.")]
    assert cells[1].metadata == {"slideshow": {"slide_type": "notes"}}
    (notes / "09_demo.md").write_text("<!-- cell n1 after gone -->\nFirst.\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="note n1 after cell gone, which 09_demo.ipynb does not have"):
        for_recording(notebook, notes)


def printed(name: str) -> str:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def number(text: str) -> float:
    return float(text.replace(",", ""))


def test_steps_per_epoch_and_total_steps():
    found = re.search(r"ceil\((\d+) chunks / batch (\d+)\) = (\d+) steps an epoch \(the last with (\d+) chunks\) "
                      r"x (\d+) epochs = (\d+) steps", printed("03_pretraining_gpt2.ipynb"))
    assert found, "the step arithmetic is no longer printed"
    chunks, batch, per_epoch, last, epochs, steps = map(int, found.groups())
    assert per_epoch == math.ceil(chunks / batch) and last == chunks - (per_epoch - 1) * batch
    assert steps == per_epoch * epochs


def test_uniform_loss_and_the_validation_table():
    text = printed("03_pretraining_gpt2.ipynb")
    vocabulary, loss = re.search(r"ln ([\d,]+) = ([\d.]+) nats", text).groups()
    assert number(loss) == round(math.log(number(vocabulary)), 2)
    table = text.split("step   valid loss\n")[1]
    rows = re.findall(r"^\s*(\d+)\s+([\d.]+)(   <- minimum)?$", table.split("train loss:")[0], re.M)
    best, best_step, last = re.search(r"validation loss: minimum ([\d.]+) at step (\d+), last ([\d.]+)", table).groups()
    assert len(rows) >= 3 and rows[-1][1] == last
    assert [(step, valid) for step, valid, marked in rows if marked] == [(best_step, best)]
    assert number(best) == min(number(valid) for _, valid, _ in rows)


def test_kv_cache_bytes():
    found = re.search(r"2 x (\d+) layers x (\d+) kv heads x (\d+) x (\d+) bytes = (\d+) KiB per token; "
                      r"the cache above holds (\d+) tokens, ([\d,]+) KiB", printed("02_causal_lm.ipynb"))
    assert found
    layers, heads, size, width, kib, tokens, total = map(number, found.groups())
    per_token = 2 * layers * heads * size * width
    assert kib == round(per_token / 1024) and total == round(per_token * tokens / 1024)


def test_log_probability_per_token():
    """A strategy that does not sample has one text: its per-token figure is its ln P over its tokens. A sampler's is
    the mean over its draws, printed with the lowest and highest draw around it, so the first draw's ln P need not
    give it."""
    rows = re.findall(r"^(greedy|temperature [\d.]+|top-[kp] [\d.]+|beam search \(\d\))\s+(-[\d.]+)"
                      r"(?: \((-[\d.]+), (-[\d.]+)\))?\s+(\d+)%\s+(\d+)\s+(-[\d.]+)", printed("02_causal_lm.ipynb"),
                      re.M)
    assert len(rows) == 6
    for name, per_token, low, high, repeated, tokens, total in rows:
        assert 0 <= number(repeated) <= 100
        if name in ("greedy", "beam search (4)"):
            assert not low and not high
            assert abs(number(total) / number(tokens) - number(per_token)) <= 0.05 / number(tokens) + 0.005
        else:
            assert number(low) <= number(per_token) <= number(high), name


def test_the_output_layers_memory_adds_up_and_the_chunked_loss_keeps_less_where_a_pass_outnumbers_the_width():
    """Notebook 3's optional memory section: the logits' size, and what each loss kept for backward. The model's own
    loss keeps at least its positions x vocabulary log-probabilities; the chunked one keeps the output layer's
    gradient, vocabulary x width, and less in all when the pass holds more positions than the model is wide."""
    text = printed("03_pretraining_gpt2.ipynb")
    found = re.search(r"logits of one forward pass of (\d+) chunks: \1 x (\d+) x ([\d,]+) = (\d+) M numbers, "
                      r"(\d+) MiB in fp32", text)
    chunks, context, vocabulary, millions, megabytes = map(number, found.groups())
    positions = chunks * context
    assert millions == round(positions * vocabulary / 1e6) and megabytes == round(positions * vocabulary * 4 / 2**20)
    shown, width = map(number, re.search(r"positions in this pass: ([\d,]+), against the model's width n_embd (\d+)",
                                         text).groups())
    assert shown == positions > width
    (model_loss, model_kept), (chunked_loss, chunked_kept) = (
        map(float, re.search(rf"{name}\s+([\d.]+) nats\s+kept for backward:\s+(\d+) MiB", text).groups())
        for name in ("model's loss", "chunked loss"))
    assert abs(model_loss - chunked_loss) <= 1e-3 * model_loss
    assert model_kept >= positions * vocabulary * 4 / 2**20 - 1
    assert vocabulary * width * 4 / 2**20 - 1 <= chunked_kept < model_kept


@pytest.mark.parametrize("name", ["01_masked_lm.ipynb", "02_causal_lm.ipynb", "03_pretraining_gpt2.ipynb"])
def test_the_model_that_ran_is_named_once_and_figures_name_it(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    text = printed(name)
    assert len(re.findall(r"^(Model|Tokenizer): ", text, re.M)) >= 1  # the load line says which model ran
    sources = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for title in re.findall(r"title=f?\"([^\"]*)\"", sources):  # no figure title names a model that may not have run
        assert not re.search(r"\b(BERT|GPT-2|gpt2|SmolLM2|MiniLM)\b", title) or "{" in title, title
