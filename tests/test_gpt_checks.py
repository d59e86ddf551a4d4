"""Notebook 3's exercise 7, the student's own GPT-2 module: a right one matches GPT2LMHeadModel's logits and trains as
it does; each usual slip is named; a blank, a renamed weight and a wrong return type get a line of their own. The
byte run trains the student's module where it is right, else the reference's, and pours the weights back into GPT-2."""

import pytest
import torch
from transformers import GPT2Config

from utils import pretraining
from utils.exercises import NOT_ANSWERED_HINT
from utils.gpt_checks import as_gpt2, block_verdict, continues, first_run_in_yours, gpt_verdict, yours_to_train
from utils.support.solutions import solutions_module

SOLUTION = solutions_module("03_pretraining_gpt2")
# exercise 7's reference answer cells, one after the other: imports and MyBlock, then MyGPT
ANSWER = SOLUTION.SOLUTIONS["e7a1c3f5"][0] + "\n\n\n" + SOLUTION.SOLUTIONS["e7a1c3fc"][0]
VOCAB, POSITIONS = 50, 16


def student(block_forward: str | None = None, model_forward: str | None = None, init_extra: str = "") -> type:
    """The reference MyGPT, with its block's or its model's forward swapped for ``..._forward`` (source text)."""
    namespace, source = {}, ANSWER
    if block_forward is not None:
        start = source.index("    def forward(self, x):")
        source = source[:start] + block_forward + source[source.index("\n\nclass MyGPT"):]
    if model_forward is not None:
        source = source[:source.rindex("    def forward(")] + model_forward
    norm = "        self.ln_f = nn.LayerNorm(n_embd)"
    source = source.replace(norm, norm + init_extra)
    exec(source, namespace)
    return namespace["MyGPT"]


def student_block(block_forward: str | None = None) -> type:
    """The reference MyBlock, with its forward swapped for ``block_forward`` (source text)."""
    namespace, source = {}, ANSWER[:ANSWER.index("\n\nclass MyGPT")]
    if block_forward is not None:
        source = source[:source.index("    def forward(self, x):")] + block_forward
    exec(source, namespace)
    return namespace["MyBlock"]


@pytest.fixture
def reference():
    torch.manual_seed(0)
    return pretraining.new_gpt2(GPT2Config(vocab_size=VOCAB, n_positions=POSITIONS, n_layer=2, n_embd=32, n_head=2,
                                           resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0))


def batches(count: int) -> list[dict]:
    generator = torch.Generator().manual_seed(1)
    ids = [torch.randint(0, VOCAB, (4, POSITIONS), generator=generator) for _ in range(count)]
    return [{"input_ids": x, "attention_mask": torch.ones_like(x), "labels": x.clone()} for x in ids]


def verdict(my_gpt, reference, loop=None) -> str:
    return gpt_verdict(my_gpt, reference, batches(8), batches(1), loop or SOLUTION.my_training_loop, 1e-2, 2)


def test_the_reference_module_trains_as_gpt2_does(reference):
    said = verdict(student(), reference)
    assert said.startswith("Correct: your GPT trains as GPT-2 does: 8 steps"), said


def test_a_trained_module_writes_greedily_after_a_validation_opening(reference):
    mine, _ = yours_to_train(student(), reference, batches(1)[0]["input_ids"][:2])
    said = continues(mine, batches(1), Digits())
    opening = batches(1)[0]["input_ids"][0, :8].tolist()
    assert said.startswith(f"After training it continues {Digits().decode(opening)!r} "), said
    written = said.split(" with ")[1].split(":")[0].strip("'").split()
    assert len(written) == 8, said  # POSITIONS = 16: the opening and what it writes fill the context
    reference.eval()
    expected = reference.generate(torch.tensor([opening]), max_new_tokens=8, do_sample=False, pad_token_id=0)
    assert written == Digits().decode(expected[0, 8:].tolist()).split(), said  # GPT-2's own greedy, same weights


def test_attention_by_the_library_s_kernel_is_right_too(reference):
    sdpa = ("    def forward(self, x):\n"
            "        b, t, d = x.shape\n"
            "        q, k, v = (z.view(b, t, self.n_head, -1).transpose(1, 2)\n"
            "                   for z in self.qkv(self.ln_1(x)).split(d, dim=-1))\n"
            "        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)\n"
            "        x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))\n"
            "        return x + self.down(F.gelu(self.up(self.ln_2(x)), approximate='tanh'))\n")
    assert verdict(student(block_forward=sdpa), reference).startswith("Correct:")


@pytest.mark.parametrize("old, new, named", [
    ("approximate=\"tanh\"", "approximate=\"none\"", "tanh approximation"),
    ("/ math.sqrt(d // self.n_head)", "", "square root of the head size"),
    ("scores = scores.masked_fill", "scores = scores if True else scores.masked_fill", "attends to the tokens after"),
    ('.triu(1), float("-inf"))', ".triu(1), 0.0)", "attends to the tokens after"),
    ("x = x + self.proj(", "x = self.proj(", "the residual stream"),
    ("self.qkv(self.ln_1(x))", "self.qkv(x)", "through a LayerNorm"),
], ids=["exact gelu", "no scale", "no mask", "masked with 0", "no residual", "no norm"])
def test_each_usual_slip_in_the_block_is_named(reference, old, new, named):
    source = ANSWER
    block = source[source.index("    def forward(self, x):"):source.index("\n\nclass MyGPT")]
    assert old in block, old
    said = verdict(student(block_forward=block.replace(old, new)), reference)
    assert said.startswith("Not quite:") and named in said, said


def test_the_block_alone_is_checked_against_gpt2_s_first_block_and_its_slips_named(reference):
    ids = batches(1)[0]["input_ids"][:2]
    said = block_verdict(student_block(), reference, ids)
    assert said.startswith("Correct: your MyBlock gives GPT-2's first block's output, on (2, 16, 32)"), said
    block = ANSWER[ANSWER.index("    def forward(self, x):"):ANSWER.index("\n\nclass MyGPT")]
    for old, new, named in [("approximate=\"tanh\"", "approximate=\"none\"", "tanh approximation"),
                            ("/ math.sqrt(d // self.n_head)", "", "square root of the head size"),
                            ('.triu(1), float("-inf"))', ".triu(1), 0.0)", "attends to the tokens after"),
                            ("x = x + self.proj(", "x = self.proj(", "the residual stream"),
                            ("self.qkv(self.ln_1(x))", "self.qkv(x)", "through a LayerNorm"),
                            ("x = x + self.proj(heads)", "x = x + self.proj(heads) * 1.01", "other numbers")]:
        said = block_verdict(student_block(block.replace(old, new)), reference, ids)
        assert said.startswith("Not quite: block 0") and named in said, said
    assert block_verdict(student_block("    def forward(self, x):\n        return x\n"), reference,
                         ids) == NOT_ANSWERED_HINT
    said = block_verdict(student_block("    def forward(self, x):\n        return x[:, :1]\n"), reference, ids)
    assert "must return a tensor shaped like its input" in said, said
    source = ANSWER[:ANSWER.index("\n\nclass MyGPT")].replace("self.proj =", "self.out =")
    namespace = {}
    exec(source, namespace)
    said = block_verdict(namespace["MyBlock"], reference, ids)
    assert "Keep __init__ as given" in said, said


def test_a_blank_answer_is_not_answered_yet(reference):
    blank = ("    def forward(self, input_ids, labels=None, **ignored):\n"
             "        logits = None  # your code\n"
             "        return SimpleNamespace(logits=logits, loss=None)\n")
    assert verdict(student(model_forward=blank), reference).startswith("Not answered yet")


@pytest.mark.parametrize("forward, named", [
    ("        return self.ln_f(self.wte(input_ids)) @ self.wte.weight.T\n", "an object with .logits and .loss"),
    ("        x = self.wte(input_ids)\n"
     "        for block in self.blocks:\n"
     "            x = block(x)\n"
     "        return SimpleNamespace(logits=self.ln_f(x) @ self.wte.weight.T, loss=None)\n", "wte(ids) + wpe"),
    ("        x = self.wte(input_ids) + self.wpe(torch.arange(input_ids.shape[1]))\n"
     "        for block in self.blocks:\n"
     "            x = block(x)\n"
     "        return SimpleNamespace(logits=x @ self.wte.weight.T, loss=None)\n", "the final LayerNorm ln_f"),
    ("        return SimpleNamespace(logits=self.wte(input_ids), loss=None)\n", "shaped (batch, tokens, vocabulary)"),
], ids=["a tensor", "no positions", "no final norm", "wrong shape"])
def test_the_model_s_own_slips_are_named(reference, forward, named):
    said = verdict(student(model_forward="    def forward(self, input_ids, labels=None, **ignored):\n" + forward),
                   reference)
    assert said.startswith("Not quite:") and named in said, said


def test_a_renamed_or_extra_weight_is_refused_before_anything_runs(reference):
    said = verdict(student(init_extra="\n        self.head = nn.Linear(n_embd, vocab_size)"), reference)
    assert "unexpected head.bias, head.weight" in said and "Keep __init__ as given" in said, said


def test_without_a_training_loop_the_forward_pass_is_still_checked(reference):
    said = verdict(student(), reference, loop=lambda *args: ([], []))
    assert said.startswith("Your GPT computes GPT-2's logits") and "Write exercise 2b's loop" in said, said


class Digits:  # a tokenizer of the test vocabulary: each id as its digits
    def decode(self, ids):
        return " ".join(map(str, ids))


def test_the_saved_first_run_runs_in_the_student_s_class_and_writes_what_the_trainer_s_model_writes(reference,
                                                                                                    tmp_path):
    reference.save_pretrained(tmp_path)
    prompt = batches(1)[0]["input_ids"][0, :4].tolist()
    said = first_run_in_yours(student(), str(tmp_path), prompt, Digits(), new=6)
    with torch.no_grad():  # the saved model's own greedy tokens, by generate
        expected = reference.eval().generate(torch.tensor([prompt]), max_new_tokens=6, do_sample=False,
                                             pad_token_id=0)[0, 4:].tolist()
    assert said == (f"Your MyGPT, holding the first run's weights, continues {Digits().decode(prompt)!r} with "
                    f"{Digits().decode(expected)!r}: the same tokens as the Trainer's model. The Trainer made the "
                    "weights; your code computes with them."), said


def test_the_saved_first_run_waits_for_exercise_7_and_for_its_folder(reference, tmp_path):
    assert first_run_in_yours(student(), str(tmp_path / "final"), [1, 2], Digits()).startswith(
        f"The first run's model is not in {tmp_path / 'final'}: run the first run's training (*Train*)")
    reference.save_pretrained(tmp_path)
    blank = student(model_forward="    def forward(self, input_ids, labels=None, **ignored):\n"
                                  "        return SimpleNamespace(logits=None, loss=None)\n")
    assert first_run_in_yours(blank, str(tmp_path), [1, 2], Digits()) == f"Exercise 7 first. {NOT_ANSWERED_HINT}"


def ids() -> torch.Tensor:
    return batches(1)[0]["input_ids"][:2]


def test_the_byte_run_trains_the_student_s_module_holding_gpt2_s_weights(reference):
    model, whose = yours_to_train(student(), reference, ids())
    assert whose.startswith("your MyGPT (exercise 7)")
    assert torch.equal(model.get_input_embeddings().weight, reference.transformer.wte.weight)
    out = model(input_ids=ids(), labels=ids())  # the Trainer reads out["loss"]; the live view reads .logits
    assert torch.allclose(out["logits"], reference(input_ids=ids()).logits, atol=1e-5)
    assert out["loss"] is out.loss and model.config is reference.config and model.device == torch.device("cpu")
    prompt, expected = ids()[:1, :4], ids()[:1, :4]  # the live view's sample: greedy, as GPT-2 decodes it
    for _ in range(5):
        expected = torch.cat([expected, reference(input_ids=expected).logits[:, -1:].argmax(-1)], dim=1)
    assert torch.equal(model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=5,
                                      do_sample=False, pad_token_id=0), expected)


@pytest.mark.parametrize("mine, why", [
    (lambda: student(model_forward="    def forward(self, input_ids, labels=None, **ignored):\n"
                                   "        return SimpleNamespace(logits=None, loss=None)\n"), "is not written yet"),
    (lambda: student(block_forward="    def forward(self, x):\n        return x + self.proj(self.ln_1(x))\n"),
     "does not compute GPT-2's logits yet"),
    (lambda: student(model_forward="    def forward(self, input_ids, labels=None, **ignored):\n"
                                   "        raise ValueError('unfinished')\n"), "does not compute GPT-2's logits yet"),
    (lambda: student(init_extra="\n        self.head = nn.Linear(n_embd, vocab_size)"),
     "does not compute GPT-2's logits yet"),
], ids=["blank", "a wrong block", "a forward that raises", "an extra weight"])
def test_until_the_student_s_module_is_right_the_reference_trains_and_says_so(reference, mine, why):
    model, whose = yours_to_train(mine(), reference, ids())
    assert whose.startswith(f"the reference MyGPT (yours {why}: exercise 7's check says more)"), whose
    assert torch.allclose(model(input_ids=ids()).logits, reference(input_ids=ids()).logits, atol=1e-5)


def test_trained_weights_poured_back_into_gpt2_compute_the_same_logits(reference):
    model, _ = yours_to_train(student(), reference, ids())
    with torch.no_grad():
        for weight in model.parameters():  # as if trained: every weight moved
            weight.add_(0.05 * torch.randn(weight.shape, generator=torch.Generator().manual_seed(weight.numel())))
    fresh = pretraining.new_gpt2(reference.config)
    gpt2 = as_gpt2(model, fresh)
    assert gpt2 is fresh and not gpt2.training
    assert torch.allclose(gpt2(input_ids=ids()).logits, model(input_ids=ids()).logits, atol=1e-4)
    assert as_gpt2(reference, fresh) is reference  # a GPT2LMHeadModel stays as it is
