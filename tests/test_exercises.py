"""Every exercise check accepts right answers, in more than one form, and turns down a plausible wrong one.

Each notebook runs once (smoke profile, offline) in a kernel, with the reference solutions of
notebooks/solutions/ in its answer cells (``make solutions``); every check cell must accept them. Then, in the same
kernel, each case runs its answer code and the exercise's check cell again. Adding a case is one line in CASES.
"""

from pathlib import Path

import nbformat
import pytest
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

RIGHT, WRONG = "right", "wrong"
# notebook -> [(text that picks the check cell, answer code, verdict, text the check must print)]
CASES = {
    "01_masked_lm.ipynb": [
        ("expected = {t: tokenizer.convert_tokens_to_ids", 'my_ids = {"[CLS]": 101, "[SEP]": 102, "[MASK]": 103}',
         RIGHT, "Correct:"),
        ("expected = {t: tokenizer.convert_tokens_to_ids",
         "my_ids = {t: tokenizer.convert_tokens_to_ids(t) for t in ('[CLS]', '[SEP]', '[MASK]')}", RIGHT, "Correct:"),
        ("expected = {t: tokenizer.convert_tokens_to_ids", 'my_ids = {"[CLS]": 101, "[SEP]": 102, "[MASK]": 104}',
         WRONG, "Not quite: [MASK]"),
        ("ranked = fill_mask(model, tokenizer, my_sentence", 'my_word = "Paris"', RIGHT, "yours is in its top 5"),
        ("ranked = fill_mask(model, tokenizer, my_sentence", 'my_word = " paris "', RIGHT, "yours is in its top 5"),
        ("ranked = fill_mask(model, tokenizer, my_sentence", 'my_word = "chocolates"', WRONG, "is 2 pieces here"),
        ("mass, count = top.values.sum()",
         "my_top5_mass = top.values.sum().item(); my_count_above = int((probabilities > 0.001).sum())",
         RIGHT, "Correct:"),
        ("mass, count = top.values.sum()",  # the printed, rounded values added up
         "my_top5_mass = sum(round(v, 3) for v in top.values.tolist()); "
         "my_count_above = int((probabilities > 0.001).sum())", RIGHT, "Correct:"),
        ("mass, count = top.values.sum()", "my_top5_mass = 1.0; my_count_above = 10", WRONG, "Not quite"),
    ],
    "02_causal_lm.ipynb": [
        ("expected = logprobs[n - 1:]",
         "import math; continuation_probability = math.prod(s.candidates[0][1] for s in manual.steps)",
         RIGHT, "Correct:"),
        ("expected = logprobs[n - 1:]",  # from the step table's printed (3-decimal) probabilities
         "import math; continuation_probability = math.prod(round(s.candidates[0][1], 3) for s in manual.steps)",
         RIGHT, "Correct:"),
        ("expected = logprobs[n - 1:]", "continuation_probability = sum(s.candidates[0][1] for s in manual.steps)",
         WRONG, "Not quite"),
        ("measured = (sum(s.tokens_fed",
         "def work_refeed(n, N): return n * N + N * (N - 1) // 2\ndef work_cached(n, N): return n + N - 1",
         RIGHT, "Correct:"),
        ("measured = (sum(s.tokens_fed",
         "def work_refeed(n, N): return sum(n + i for i in range(N))\ndef work_cached(n, N): return n + (N - 1) * 1",
         RIGHT, "Correct:"),
        ("measured = (sum(s.tokens_fed",
         "def work_refeed(n, N): return n * N\ndef work_cached(n, N): return N", WRONG, "Not quite"),
        ("if my_temperature is None:", "my_temperature = 0.01", RIGHT, "Same as greedy"),
        ("if my_temperature is None:", "my_temperature = 1e-4", RIGHT, "Same as greedy"),
        ("if my_temperature is None:", "my_temperature = 3.0", WRONG, "Not the same"),
        ("if my_temperature is None:", "my_temperature = 0", WRONG, "T = 0 itself is greedy decoding"),  # raised
        ("if my_temperature is None:", 'my_temperature = "0.01"', WRONG, "temperature must be a number above 0"),
        ("if my_temperature is None:", "my_temperature = -1", WRONG, "temperature must be a number above 0"),
    ],
    "03_pretraining_gpt2.ipynb": [
        ("if my_perplexity is None:", "my_perplexity = math.exp(best_loss)", RIGHT, "Correct:"),
        ("if my_perplexity is None:", "my_perplexity = math.exp(round(best_loss, 2))", RIGHT, "Correct:"),
        ("if my_perplexity is None:", "my_perplexity = best_loss", WRONG, "Not quite"),
        ("answer = next_token_accuracy(train_ids)",
         "def next_token_accuracy(ids):\n    x = torch.tensor([ids])\n    with torch.no_grad():\n"
         "        return (model(x).logits[0, :-1].argmax(-1) == x[0, 1:]).float().mean().item()", RIGHT, "Correct:"),
        ("answer = next_token_accuracy(train_ids)",
         "def next_token_accuracy(ids):\n    x = torch.tensor([ids])\n    with torch.no_grad():\n"
         "        guesses = model(x).logits[0].argmax(-1).tolist()\n"
         "    return sum(g == t for g, t in zip(guesses, ids[1:])) / (len(ids) - 1)", RIGHT, "Correct:"),
        ("answer = next_token_accuracy(train_ids)",  # compares each guess with the token it was given, not the next
         "def next_token_accuracy(ids):\n    x = torch.tensor([ids])\n    with torch.no_grad():\n"
         "        return (model(x).logits[0].argmax(-1) == x[0]).float().mean().item()", WRONG, "Not quite"),
        ('elif answer == "smaller":', 'more_data_gap = "smaller"', RIGHT, "Right:"),
        ('elif answer == "smaller":', 'more_data_gap = " Smaller."', RIGHT, "Right:"),
        ('elif answer == "smaller":', 'more_data_gap = "larger"', WRONG, "Think again"),
        ('elif answer == "higher":', 'dropout_train_loss = "higher"', RIGHT, "Right:"),
        ('elif answer == "higher":', 'dropout_train_loss = "Higher"', RIGHT, "Right:"),
        ('elif answer == "higher":', 'dropout_train_loss = "lower"', WRONG, "Think again"),
    ],
}


def stdout_of(cell) -> str:
    errors = [o for o in cell.outputs if o.output_type == "error"]
    assert not errors, f"{errors[0].ename}: {errors[0].evalue}"
    return "".join(o.text for o in cell.outputs if o.output_type == "stream")


def solutions(notebook: str) -> dict:
    """notebooks/solutions/<notebook>.py's SOLUTIONS."""
    namespace: dict = {}
    exec((NOTEBOOKS / "solutions" / f"{Path(notebook).stem}.py").read_text(), namespace)
    return namespace["SOLUTIONS"]


@pytest.fixture(scope="module", params=sorted(CASES))
def executed(request, tmp_path_factory):
    """(notebook, its executed cells, {check cell index: the verdict its reference solution must get}, client with
    a live kernel): the whole notebook run once (smoke profile, offline) with the reference solutions in the answer
    cells. The same kernel then serves every case."""
    name = request.param
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    checks = {}
    for start, (solution, verdict) in solutions(name).items():
        index = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.startswith(start))
        nb.cells[index].source = solution
        checks[index + 1] = verdict  # each check cell follows its answer cell
    unanswered = {i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "Not answered yet" in c.source}
    assert unanswered <= set(checks), f"{name}: a check cell without a reference solution"
    # local IPC sockets rather than unencrypted TCP, as the Makefile's kernels use
    km = KernelManager(kernel_name="python3", transport="ipc", ip=str(tmp_path_factory.mktemp("kernel") / "k"))
    client = NotebookClient(nb, km=km, timeout=600, resources={"metadata": {"path": str(NOTEBOOKS)}})
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                client.execute_cell(cell, index)
        yield name, nb, checks, client


def test_every_check_cell_has_a_right_and_a_wrong_case():
    for name, cases in CASES.items():
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        checks = [c for c in nb.cells if c.cell_type == "code" and "Not answered yet" in c.source]
        covered = {pick for pick, *_ in cases}
        for check in checks:
            picks = [p for p in covered if p in check.source]
            assert picks, f"{name}: no case for the check cell starting {check.source[:60]!r}"
            verdicts = [v for p, _, v, _ in cases if p in picks]
            assert verdicts.count(RIGHT) >= 2 and verdicts.count(WRONG) >= 1, (name, picks)


def test_checks_accept_right_answers_and_turn_down_wrong_ones(executed):
    name, nb, _, client = executed
    checks = {pick: next(c for c in nb.cells if c.cell_type == "code" and pick in c.source)
              for pick, *_ in CASES[name]}
    nb.cells.append(nbformat.v4.new_code_cell())  # the scratch cell the cases run in
    failures = []
    for pick, answer, verdict, expected in CASES[name]:
        for source in (answer, checks[pick].source):
            cell = nb.cells[-1] = nbformat.v4.new_code_cell(source)
            client.execute_cell(cell, len(nb.cells) - 1)
        said = stdout_of(cell)
        if expected not in said:
            failures.append(f"{verdict} answer {answer!r}: expected {expected!r}, the check said {said!r}")
    assert not failures, "\n".join(failures)


def test_reference_solutions_pass_every_check(executed):
    """The run with the reference solutions in the answer cells: every check cell accepted its solution."""
    name, nb, checks, _ = executed  # (the fixture found a solution for every check cell)
    for index, verdict in checks.items():
        said = stdout_of(nb.cells[index])
        assert verdict in said, f"{name}: the solution before cell {index} got {said!r}"
