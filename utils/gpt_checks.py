"""Notebook 3's exercise 7: the student's own GPT-2, as ``nn.Module``s, against ``GPT2LMHeadModel``.

``block_verdict`` checks the student's ``MyBlock`` against GPT-2's first block. ``gpt_verdict`` builds the
student's ``MyGPT`` at a fresh GPT-2's sizes, copies that model's random weights into it
(GPT-2 stores its linear layers as ``Conv1D``, the transpose of ``nn.Linear``), compares the logits, and names the
usual slip where they differ. Then the student's training loop (exercise 2b) trains both from those same weights on
the same batches, and the two loss curves are drawn together. ``first_run_in_yours`` then runs the first run's
trained weights in the student's class. ``yours_to_train`` hands the student's loop and the byte run the student's
model where it computes GPT-2's logits, ``continues`` says what it writes once trained, and ``as_gpt2`` pours what it
learnt back into GPT-2's class, for ``generate`` and the reports.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import GPT2LMHeadModel
from transformers.modeling_outputs import CausalLMOutput

from utils.exercises import NOT_ANSWERED_HINT, describe
from utils.exercises import reference as reference_solution
from utils.figures import show

TOLERANCE = 1e-4  # fp32: the same sums in another order differ by ~1e-6; any slip moves the logits far more
CURVES_APART = 1e-3  # nats: two fp32 models with the same weights train alike to ~1e-6 over 100 steps

# the student's names (MyBlock's attributes) -> GPT-2's, in each block; True where GPT-2's Conv1D is transposed
BLOCK_WEIGHTS = (("ln_1", "ln_1", False), ("ln_2", "ln_2", False), ("qkv", "attn.c_attn", True),
                 ("proj", "attn.c_proj", True), ("up", "mlp.c_fc", True), ("down", "mlp.c_proj", True))


def _weight_names(n_layer: int):
    """(MyGPT's name, GPT2LMHeadModel's name, transposed?) of every weight of an ``n_layer``-block model."""
    for name in ("wte.weight", "wpe.weight", "ln_f.weight", "ln_f.bias"):
        yield name, f"transformer.{name}", False
    for i in range(n_layer):
        for mine, theirs, transposed in BLOCK_WEIGHTS:
            yield f"blocks.{i}.{mine}.weight", f"transformer.h.{i}.{theirs}.weight", transposed
            yield f"blocks.{i}.{mine}.bias", f"transformer.h.{i}.{theirs}.bias", False


def _turned(weight: torch.Tensor, transposed: bool) -> torch.Tensor:
    return weight.T.contiguous() if transposed else weight


def gpt2_state_for(reference) -> dict[str, torch.Tensor]:
    """``reference``'s (a GPT2LMHeadModel's) weights under MyGPT's names, as ``nn.Linear`` holds them."""
    weights = reference.state_dict()
    return {mine: _turned(weights[theirs], transposed)
            for mine, theirs, transposed in _weight_names(reference.config.n_layer)}


def _block(block, x: torch.Tensor, slip: str | None = None) -> torch.Tensor:
    """GPT-2's block, computed with ``block``'s weights; ``slip`` names a common mistake to make on purpose."""
    b, t, d = x.shape
    heads = 1 if slip == "one head" else block.n_head
    normed = x if slip == "no norm" else block.ln_1(x)
    q, k, v = (z.view(b, t, heads, d // heads).transpose(1, 2) for z in block.qkv(normed).split(d, dim=-1))
    scores = q @ k.transpose(-1, -2) / (1 if slip == "no scale" else math.sqrt(d // heads))
    if slip != "no mask":
        scores = scores.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
    attended = block.proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d))
    x = attended if slip == "no residual" else x + attended
    hidden = block.up(block.ln_2(x))
    return x + block.down(F.gelu(hidden) if slip == "exact gelu" else F.gelu(hidden, approximate="tanh"))


BLOCK_SLIPS = {
    "exact gelu": "its MLP uses the exact GELU; GPT-2 uses the tanh approximation: F.gelu(h, approximate=\"tanh\")",
    "no scale": "its attention scores are not divided by the square root of the head size (d / n_head)",
    "no mask": "a position attends to the tokens after it: set the scores above the diagonal to -inf before the "
               "softmax",
    "one head": "it attends with one head of full width: split q, k and v into n_head heads of d / n_head",
    "no residual": "the attention's output replaces x: add it to x (the residual stream)",
    "no norm": "the attention reads x itself: GPT-2 reads each sublayer's input through a LayerNorm (ln_1, ln_2)",
}


def _block_problem(block, index: int, x: torch.Tensor, expected: torch.Tensor) -> str:
    """Why the student's ``block`` (holding GPT-2's block ``index``'s weights), given that block's input ``x``, does not
    give its output ``expected``."""
    with torch.no_grad():
        got = block(x)
        if not isinstance(got, torch.Tensor) or got.shape != expected.shape:
            return f"Not quite: MyBlock.forward must return a tensor shaped like its input {tuple(x.shape)}; " \
                   f"got {describe(got)}."
        if torch.allclose(got, x):
            return "Not quite: MyBlock.forward returns its input unchanged: add attention, then the MLP."
        moved = x.clone()  # another last position, by a shift LayerNorm does not undo: nothing before it may move
        moved[:, -1] += torch.linspace(-1, 1, x.shape[-1], device=x.device)
        later = block(moved)
        if isinstance(later, torch.Tensor) and not torch.allclose(later[:, :-1], got[:, :-1], atol=TOLERANCE):
            return f"Not quite: block {index} differs from GPT-2's: {BLOCK_SLIPS['no mask']}."
        for slip, why in BLOCK_SLIPS.items():
            if torch.allclose(got, _block(block, x, slip), atol=TOLERANCE):
                return f"Not quite: block {index} differs from GPT-2's: {why}."
    apart = (got - expected).abs().max().item()
    return (f"Not quite: block {index} gives other numbers than GPT-2's (largest difference {apart:.3g}) on the same "
            "input. Check the order: x + attention(ln_1(x)), then x + MLP(ln_2(x)).")


def block_verdict(my_block, reference, ids: torch.Tensor) -> str:
    """Exercise 7, part 1: ``my_block(n_embd, n_head)`` (the student's MyBlock) holding the first block's weights of
    ``reference`` (a GPT2LMHeadModel), at a trained model's scale, where every slip shows; fed what reaches that block
    from ``ids``, against GPT-2's own block's output. A usual slip is named."""
    config = reference.config
    try:
        block = my_block(config.n_embd, config.n_head)
    except Exception as error:  # a student's constructor: whatever it raises is theirs to fix
        return f"Not quite: MyBlock(...) raised {type(error).__name__}: {error}. Keep __init__ as given."
    stressed = _stressed(reference)
    expected = {name.removeprefix("blocks.0."): weight for name, weight in gpt2_state_for(stressed).items()
                if name.startswith("blocks.0.")}
    names = set(block.state_dict()) if isinstance(block, torch.nn.Module) else set()
    if names != set(expected):
        wanted = ", ".join(sorted(expected))
        return (f"Not quite: MyBlock's weights are not GPT-2's under the skeleton's names ({wanted}). Keep __init__ as "
                "given: forward is yours to write.")
    block.load_state_dict(expected)
    block.to(reference.device).eval()
    seen = []  # GPT-2's first block's output, as the model computes it
    hook = stressed.transformer.h[0].register_forward_hook(
        lambda module, args, out: seen.append(out[0] if isinstance(out, tuple) else out))
    try:
        with torch.no_grad():
            x = stressed(input_ids=ids, output_hidden_states=True).hidden_states[0]  # what reaches the first block
    finally:
        hook.remove()
    with torch.no_grad():
        got = block(x)
    if got is x:  # the skeleton's forward
        return NOT_ANSWERED_HINT
    if not isinstance(got, torch.Tensor) or got.shape != seen[0].shape or not torch.allclose(got, seen[0],
                                                                                            atol=TOLERANCE):
        return _block_problem(block, 0, x, seen[0])
    return (f"Correct: your MyBlock gives GPT-2's first block's output, on {tuple(x.shape)} (batch, tokens, width) "
            f"with weights at a trained model's scale (largest difference {(got - seen[0]).abs().max().item():.1g}). "
            "Now the model.")


def _logits_problem(mine, reference, ids: torch.Tensor) -> str | None:
    """Why ``mine`` does not compute ``reference``'s logits for ``ids``, or None when it does."""
    captured, last = [], []  # what reaches the student's first block; what GPT-2's last block gives
    hooks = [mine.blocks[0].register_forward_pre_hook(lambda module, args: captured.append(args[0])),
             reference.transformer.h[-1].register_forward_hook(
                 lambda module, args, out: last.append(out[0] if isinstance(out, tuple) else out))]
    try:
        with torch.no_grad():
            out = mine(input_ids=ids)
            theirs = reference(input_ids=ids, output_hidden_states=True)
    finally:
        for hook in hooks:
            hook.remove()
    logits = getattr(out, "logits", None)
    if logits is None:
        return NOT_ANSWERED_HINT if out is not None and hasattr(out, "logits") else (
            f"Not quite: MyGPT.forward must return an object with .logits and .loss, as the skeleton does; got "
            f"{describe(out)}.")
    if not isinstance(logits, torch.Tensor) or logits.shape != theirs.logits.shape:
        return f"Not quite: the logits must be shaped (batch, tokens, vocabulary) = " \
               f"{tuple(theirs.logits.shape)}; got {describe(logits)}."
    if torch.allclose(logits, theirs.logits, atol=TOLERANCE):
        return None
    changed = ids.clone()
    changed[:, -1] = (changed[:, -1] + 1) % theirs.logits.shape[-1]  # another last token: nothing before it may move
    with torch.no_grad():
        moved = getattr(mine(input_ids=changed), "logits", None)
    if isinstance(moved, torch.Tensor) and not torch.allclose(moved[:, :-1], logits[:, :-1], atol=TOLERANCE):
        return ("Not quite: a position attends to the tokens after it (changing the last token moves the logits "
                "before it): set the scores above the diagonal to -inf before the softmax.")
    states = theirs.hidden_states  # the embeddings, then each block's output (the last one after ln_f)
    if captured and not torch.allclose(captured[0], states[0], atol=TOLERANCE):
        return ("Not quite: what reaches the first block is not GPT-2's: the token embedding of each id plus the "
                "position embedding of its place (wte(ids) + wpe(0, 1, ...)).")
    inputs = list(states[:-1])  # block i reads states[i]; the last block's output is not in hidden_states
    outputs = list(states[1:-1]) + last
    for index in range(len(mine.blocks)):
        with torch.no_grad():
            agrees = torch.allclose(mine.blocks[index](inputs[index]), outputs[index], atol=TOLERANCE)
        if not agrees:
            return _block_problem(mine.blocks[index], index, inputs[index], outputs[index])
    apart = (logits - theirs.logits).abs().max().item()
    return (f"Not quite: every block matches GPT-2's, but the logits differ (largest difference {apart:.3g}): "
            "after the last block comes the final LayerNorm ln_f, then the output layer, the token embedding "
            "reused (x @ wte.weight.T).")


def _stressed(reference):
    """A copy of ``reference`` with weights of a trained model's scale: embeddings of variance 1, each linear layer
    keeping its input's variance, norms that scale and shift by ~0.1. Every activation then works across its range,
    and the logits are a few units wide."""
    stressed = copy.deepcopy(reference)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, weight in stressed.transformer.named_parameters():
            noise = torch.randn(weight.shape, generator=generator)
            if name.startswith(("wte", "wpe")):
                weight.copy_(noise)
            else:  # GPT-2's Conv1D holds (inputs, outputs)
                weight.copy_(noise / math.sqrt(weight.shape[0]) if weight.ndim == 2 else weight + 0.1 * noise)
    return stressed


def _optimizer(model, learning_rate: float) -> torch.optim.Optimizer:
    """AdamW as the Trainer sets it: weight decay 0.1 on the matrices, none on biases and norms."""
    groups = [{"params": [w for w in model.parameters() if w.ndim >= 2], "weight_decay": 0.1},
              {"params": [w for w in model.parameters() if w.ndim < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=learning_rate)


def _build(my_gpt, reference, expected: dict[str, torch.Tensor]):
    """The student's model at ``reference``'s sizes, holding ``expected`` (its weights under MyGPT's names); or the
    line that says why not."""
    config = reference.config
    try:
        mine = my_gpt(config.vocab_size, config.n_positions, config.n_embd, config.n_layer, config.n_head)
    except Exception as error:  # a student's constructor: whatever it raises is theirs to fix
        return None, f"Not quite: MyGPT(...) raised {type(error).__name__}: {error}. Keep __init__ as given."
    names = set(mine.state_dict()) if isinstance(mine, torch.nn.Module) else set()
    if names != set(expected):
        missing, extra = sorted(set(expected) - names)[:3], sorted(names - set(expected))[:3]
        return None, (f"Not quite: MyGPT's weights are not GPT-2's under the skeleton's names (missing "
                      f"{', '.join(missing) or 'none'}; unexpected {', '.join(extra) or 'none'}). Keep __init__ as "
                      "given: forward is yours to write.")
    mine.load_state_dict(expected)
    return mine.to(reference.device), None


def _computes_gpt2(my_gpt, reference, ids: torch.Tensor):
    """The student's model holding ``reference``'s weights, and None where it computes GPT-2's logits on ``ids``,
    first at a trained model's scale, where every slip shows (at GPT-2's initial scale the exact GELU moves the logits
    by ~1e-7), then with the weights that will train; else the line that says why not."""
    initial = gpt2_state_for(reference)
    mine, problem = _build(my_gpt, reference, initial)
    if mine is None:
        return None, problem
    stressed = _stressed(reference)
    mine.load_state_dict(gpt2_state_for(stressed))
    problem = _logits_problem(mine, stressed, ids)
    mine.load_state_dict(initial)
    return mine, problem or _logits_problem(mine, reference, ids)


def gpt_verdict(my_gpt, reference, batches: list[dict], eval_batches: list[dict], loop, learning_rate: float,
                warmup_steps: int) -> str:
    """One line: does ``my_gpt`` (the student's MyGPT class) compute ``reference``'s logits from its weights, and does
    ``loop`` (exercise 2b's, once it passed) train it as it trains GPT-2? Draws both loss curves when it does."""
    mine, problem = _computes_gpt2(my_gpt, reference, batches[0]["input_ids"][:2])
    if problem is not None:
        return problem
    eval_every = max(1, len(batches) // 4)
    ours, _ = loop(mine, batches, eval_batches, _optimizer(mine, learning_rate), warmup_steps, eval_every, 1.0)
    if not ours:
        return ("Your GPT computes GPT-2's logits from the same weights. Write exercise 2b's loop (it returned no "
                "losses) to train it here.")
    gpt2, _ = loop(reference, batches, eval_batches, _optimizer(reference, learning_rate), warmup_steps, eval_every,
                   1.0)
    apart = max(abs(float(a) - float(b)) for a, b in zip(ours, gpt2))
    _draw(ours, gpt2)
    if len(ours) != len(gpt2) or apart > CURVES_APART:
        return (f"Not quite: your GPT computes GPT-2's logits, but trains differently (curves up to {apart:.3g} "
                "apart): every weight must be an nn.Parameter of the module, created in __init__, not in forward.")
    return (f"Correct: your GPT trains as GPT-2 does: {len(ours)} steps of the loop, loss {gpt2[0]:.3f} -> "
            f"{gpt2[-1]:.3f}, the two curves at most {apart:.1g} apart.")


WRITES = 48  # tokens a trained MyGPT writes, after half as many of a validation chunk


def continues(model: TrainerReady, eval_batches: list[dict], tokenizer) -> str:
    """One line: what ``model`` (``yours_to_train``'s, trained) writes greedily after the opening of the first
    validation chunk, within its context."""
    context = model.config.n_positions
    prompt = eval_batches[0]["input_ids"][0, :min(WRITES // 2, context // 2)].tolist()
    new = _greedy(model, prompt, min(WRITES, context - len(prompt)))
    return (f"After training it continues {tokenizer.decode(prompt)!r} (a validation chunk's opening) with "
            f"{tokenizer.decode(new)!r}: greedy, its most likely byte each step.")


@torch.no_grad()
def _greedy(model, ids: list[int], new: int) -> list[int]:
    """``new`` tokens after ``ids``, each the most likely by ``model``'s logits (a MyGPT: no generate, no cache)."""
    model.eval()
    device = next(model.parameters()).device
    for _ in range(new):
        ids = ids + [int(model(input_ids=torch.tensor([ids], device=device)).logits[0, -1].argmax())]
    return ids[-new:]


def _draw(ours: list[float], gpt2: list[float]) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.4))
    steps = range(1, len(gpt2) + 1)
    ax.plot(steps, gpt2, lw=3, alpha=0.5, label="GPT2LMHeadModel")
    ax.plot(steps, ours, lw=1, ls="--", color="black", label="your MyGPT")
    ax.set(xlabel="step", ylabel="training loss (nats)", title="the same weights, the same batches, your loop")
    ax.legend()
    show(fig, f"Training loss over {len(gpt2)} steps of GPT2LMHeadModel and of your MyGPT, from the same weights: "
              f"{gpt2[0]:.2f} to {gpt2[-1]:.2f} and {ours[0]:.2f} to {ours[-1]:.2f}.")


def first_run_in_yours(my_gpt, folder: str, ids: list[int], tokenizer, new: int = 16) -> str:
    """The first run's saved model (``folder``, as the first run's training cell wrote it) poured into the student's
    ``MyGPT``: what it writes after ``ids``, greedily, beside what the Trainer's model writes."""
    if not (Path(folder) / "model.safetensors").is_file():
        return (f"The first run's model is not in {folder}: run the first run's training (*Train*) to save it, "
                "then run this cell again.")
    trained = GPT2LMHeadModel.from_pretrained(folder, use_safetensors=True, trust_remote_code=False).eval()
    mine, problem = _build(my_gpt, trained, gpt2_state_for(trained))
    problem = problem or _logits_problem(mine, trained, torch.tensor([ids]))
    if problem is not None:
        return f"Exercise 7 first. {problem}"
    yours, theirs = _greedy(mine, ids, new), _greedy(trained, ids, new)
    return (f"Your MyGPT, holding the first run's weights, continues {tokenizer.decode(ids)!r} with "
            f"{tokenizer.decode(yours)!r}: " + ("the same tokens as the Trainer's model. The Trainer made the weights; "
                                                 "your code computes with them." if yours == theirs else
                                                 f"the Trainer's model writes {tokenizer.decode(theirs)!r}."))


class TrainerReady(torch.nn.Module):
    """The student's MyGPT as the Trainer and the live view take a model: loss and logits in a ``ModelOutput``, and
    GPT-2's ``config`` and the weights' ``device`` at hand. Its weights are the student's model's own."""

    def __init__(self, mine: torch.nn.Module, config):
        super().__init__()
        self.mine, self.config = mine, config

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def get_input_embeddings(self) -> torch.nn.Embedding:
        return self.mine.wte

    def forward(self, input_ids, labels=None, **ignored):
        out = self.mine(input_ids=input_ids, labels=labels)
        return CausalLMOutput(loss=out.loss, logits=out.logits)

    def generate(self, input_ids: torch.Tensor, max_new_tokens: int = 1, do_sample: bool = False, **ignored):
        """The live view's greedy sample (``_greedy``: the student's module has no ``generate``): one sequence, the
        prompt and its continuation."""
        if do_sample:
            raise ValueError("MyGPT decodes greedily here: do_sample=False")
        new = _greedy(self, input_ids[0].tolist(), max_new_tokens)
        return torch.cat([input_ids, torch.tensor([new], device=input_ids.device)], dim=1)


def yours_to_train(my_gpt, reference, ids: torch.Tensor) -> tuple[torch.nn.Module, str]:
    """What the student's loop and the byte run train, ready for the Trainer: the student's ``my_gpt`` (MyGPT)
    holding ``reference``'s weights (a fresh GPT2LMHeadModel) where it computes GPT-2's logits on ``ids`` (at a
    trained model's scale too); else the reference solution's MyGPT, holding the same. And whose model it is, in
    words."""
    try:
        mine, problem = _computes_gpt2(my_gpt, reference, ids)
    except Exception as error:  # noqa: BLE001 - a student's forward: whatever it raises, the reference trains
        problem = f"its forward raised {type(error).__name__}"
    if problem is None:
        return TrainerReady(mine, reference.config), "your MyGPT (exercise 7), holding a fresh GPT-2's random weights"
    mine, _ = _build(reference_solution("MyGPT", "03_pretraining_gpt2"), reference, gpt2_state_for(reference))
    why = "is not written yet" if problem == NOT_ANSWERED_HINT else "does not compute GPT-2's logits yet"
    return (TrainerReady(mine, reference.config),
            f"the reference MyGPT (yours {why}: exercise 7's check says more), holding a fresh GPT-2's random weights")


@torch.no_grad()
def as_gpt2(trained: torch.nn.Module, fresh: GPT2LMHeadModel) -> GPT2LMHeadModel:
    """``trained`` (what ``yours_to_train`` returned, after training) as a GPT2LMHeadModel: ``fresh`` (a GPT-2 of its
    sizes) holding its weights, so that ``generate`` and every helper written for GPT-2 run it; a GPT2LMHeadModel is
    returned as it is. The two compute the same logits: checked here."""
    if not isinstance(trained, TrainerReady):
        return trained
    weights = trained.mine.state_dict()
    state = {theirs: _turned(weights[mine], transposed)
             for mine, theirs, transposed in _weight_names(fresh.config.n_layer)}
    missing, unexpected = fresh.load_state_dict(state, strict=False)
    if unexpected or set(missing) - {"lm_head.weight"}:  # the output layer is the token embedding, tied
        raise RuntimeError(f"MyGPT's weights do not fill GPT-2's: missing {missing}, unexpected {unexpected}")
    fresh.to(trained.device).eval()
    trained.mine.eval()
    ids = torch.arange(min(8, fresh.config.n_positions), device=trained.device)[None] % fresh.config.vocab_size
    # the student's module itself: the Trainer's accelerate wraps the outer forward in bf16 autocast
    theirs = fresh(input_ids=ids, attention_mask=torch.ones_like(ids)).logits  # no padding here: GPT-2 need not ask
    if not torch.allclose(theirs, trained.mine(input_ids=ids).logits, atol=TOLERANCE):
        raise RuntimeError("GPT-2 holding your MyGPT's trained weights computes other logits than your MyGPT")
    return fresh
