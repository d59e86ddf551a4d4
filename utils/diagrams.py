"""The model that ran, drawn from its own configuration: the path from ids to scores, and one layer opened up.

``show_architecture(model)`` draws a BERT-family encoder (notebook 1), GPT-2 or a Llama-style model such as the
SmolLM2 stand-in (notebook 2). Every number in the drawing (layers, heads, widths, vocabulary) is read from
``model.config``, so it is true for whichever model loaded. The layer's boxes follow the model's own order: BERT
normalises *after* each half of the layer, GPT-2 and Llama *before*; Llama's norm is RMSNorm, its MLP gated, its
positions rotary (inside attention) rather than added to the embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass

from utils.blocks import check_architecture
from utils.figures import OKABE_ITO, STYLE, show
from utils.schematics import arrow, box

# light fills for the kinds of step, edges in Okabe & Ito's colours
KINDS = {
    "data": ("#F2F2F2", "#000000"), "embed": ("#F5E3EE", OKABE_ITO[4]), "attention": ("#DDEBF6", OKABE_ITO[0]),
    "mlp": ("#FBEBD0", OKABE_ITO[1]), "norm": ("#FFFFFF", "#555555"), "add": ("#DDF2EA", OKABE_ITO[2]),
    "layer": ("#FFFFFF", "#000000"),
}


@dataclass
class Step:
    text: str
    kind: str
    opens_half: bool = False  # the first step of a half of the layer: the residual starts at its input


def _is_encoder(model) -> bool:
    encoder = getattr(getattr(model, "base_model", None), "encoder", None)
    return hasattr(encoder, "layer") and hasattr(model.config, "intermediate_size")


def _path(c, ids: str, embeddings: str, layer: str, head: str, scores: str, normed: bool = False) -> list[Step]:
    """The path from ids to scores, the layer's box among them, for a model of config ``c`` (``normed``: the
    embeddings pass through a LayerNorm before the first layer)."""
    vectors = f"LayerNorm → {c.hidden_size} numbers" if normed else f"one vector of {c.hidden_size}"
    return [Step(f"token ids: {ids}", "data"),
            Step(f"Embeddings: {embeddings}\n→ {vectors} per token", "embed"),
            Step(f"{layer} layer × {c.num_hidden_layers}\n(opened up on the right)", "layer"),
            Step(head, "embed"), Step(f"{c.vocab_size:,} scores at every position;\n{scores}", "data")]


def architecture_steps(model) -> tuple[str, list[Step], list[Step]]:
    """(the figure's title, the path from ids to scores, the steps of one layer, in order): the texts
    ``show_architecture`` draws, every number from ``model.config``. One ValueError for a model it cannot draw."""
    from utils.support.basic_checks import check_model

    check_model(model)
    c = model.config
    heads = c.num_attention_heads
    size = getattr(c, "head_dim", None) or c.hidden_size // heads
    tied = model.get_output_embeddings().weight is model.get_input_embeddings().weight
    to_vocabulary = "× the token vectors (tied)" if tied else "its own matrix to the vocabulary"
    if _is_encoder(model):
        segments = getattr(c, "type_vocab_size", 0)
        path = _path(c, "the whole sentence", f"token + position{' + segment' if segments else ''}", "Encoder",
                     f"MLM head: dense, {c.hidden_act.upper()}, LayerNorm,\nthen {to_vocabulary}",
                     "softmax at [MASK]: probabilities", normed=True)
        layer = [Step(f"Self-attention: {heads} heads × {size}, joined by\nthe output projection, {c.hidden_size} → "
                      f"{c.hidden_size}", "attention", True),
                 Step("+ the layer's input (residual)", "add"), Step("LayerNorm", "norm"),
                 Step(f"Feed-forward ({c.hidden_act.upper()}):\n{c.hidden_size} → {c.intermediate_size:,} "
                      f"→ {c.hidden_size}", "mlp", True),
                 Step("+ its input (residual)", "add"), Step("LayerNorm", "norm")]
        return f"{type(model).__name__}: normalises after each half", path, layer
    try:
        kind = check_architecture(model)
    except ValueError:
        raise ValueError(f"{type(model).__name__} is not a model this drawing knows: it draws BERT-family encoders, "
                         "GPT-2 and Llama-style models.") from None
    gpt2 = kind == "gpt2"
    norm = "LayerNorm" if gpt2 else "RMSNorm"
    width = (c.n_inner or 4 * c.hidden_size) if gpt2 else c.intermediate_size
    kv_heads = getattr(c, "num_key_value_heads", None) or heads
    sees = ("each token sees itself and those before" if gpt2 else
            f"{kv_heads} key/value heads; RoPE turns q and k" if kv_heads < heads else "RoPE turns q and k")
    path = _path(c, "the text so far", f"token{' + position' if gpt2 else ' only'}", "Decoder",
                 f"final {norm}, then the LM head:\n{to_vocabulary}", "the last position's: the next token")
    mlp = (f"MLP (GELU):\n{c.hidden_size} → {width:,} → {c.hidden_size}" if gpt2 else
           f"gated MLP: SiLU(x W_gate) * x W_up,\n{c.hidden_size} → {width:,} → {c.hidden_size}")
    layer = [Step(norm, "norm", True),
             Step(f"Causal attention: {heads} heads × {size}, then W_o\n{sees}", "attention"),
             Step("+ the layer's input (residual)", "add"), Step(norm, "norm", True), Step(mlp, "mlp"),
             Step("+ its input (residual)", "add")]
    return f"{type(model).__name__}: normalises before each half", path, layer


ARROW = {"head": 18, "gap": 0}  # the architecture's arrows: a larger head, touching the boxes


def _box(ax, x, y, width, height, step: Step) -> None:
    fill, edge = KINDS[step.kind]
    box(ax, x, y, width, height, step.text, fill, edge, bold=step.kind == "layer", rounding=0.12, line=1.5,
        linespacing=1.15)


def _one_line(step: Step) -> str:
    """A box's text on one line, for the alt text: a break after a colon, comma or semicolon becomes a space, any other
    a comma."""
    return step.text.replace(":\n", ": ").replace(",\n", ", ").replace(";\n", "; ").replace("\n", ", ")


def architecture_figure(model):
    """The figure ``show_architecture`` shows, and its alt text."""
    import matplotlib.pyplot as plt

    title, path, layer = architecture_steps(model)
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=(11.2, 5.8))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, 11.2)
        ax.set_ylim(0, 5.8)
        ax.axis("off")
        ax.text(0.1, 5.58, title, fontsize=STYLE["axes.titlesize"], va="center")
        left, width, height, gap = 0.1, 4.6, 0.72, 0.3  # the path, top to bottom
        tops = [5.05 - i * (height + gap) for i in range(len(path))]
        for i, (step, top) in enumerate(zip(path, tops)):
            _box(ax, left, top - height, width, height, step)
            if i:
                arrow(ax, (left + width / 2, tops[i - 1] - height), (left + width / 2, top), **ARROW)
        inner_left, inner_width, inner_height, inner_gap = 5.45, 5.1, 0.62, 0.16  # the layer, opened up
        inner_tops = [4.9 - i * (inner_height + inner_gap) for i in range(len(layer))]
        frame_top, frame_bottom = inner_tops[0] + 0.35, inner_tops[-1] - inner_height - 0.25
        from matplotlib.patches import FancyBboxPatch

        ax.add_patch(FancyBboxPatch((inner_left - 0.35, frame_bottom), inner_width + 0.9, frame_top - frame_bottom,
                                    boxstyle="round,pad=0,rounding_size=0.15", facecolor="none",
                                    edgecolor="#000000", linewidth=2.5, linestyle="--"))
        opened = tops[2] - height / 2  # dashed lines from the layer's box to its inside
        ax.plot([left + width, inner_left - 0.35], [opened + 0.1, frame_top], color="#777777", lw=1, ls=":")
        ax.plot([left + width, inner_left - 0.35], [opened - 0.1, frame_bottom], color="#777777", lw=1, ls=":")
        middle = inner_left + inner_width / 2
        for i, (step, top) in enumerate(zip(layer, inner_tops)):
            _box(ax, inner_left, top - inner_height, inner_width, inner_height, step)
            arrow(ax, (middle, (inner_tops[i - 1] - inner_height) if i else frame_top), (middle, top), **ARROW)
        arrow(ax, (middle, inner_tops[-1] - inner_height), (middle, frame_bottom), **ARROW)
        side = inner_left + inner_width + 0.3  # residuals: from the half's input round its steps to its "+"
        adds = [i for i, step in enumerate(layer) if step.kind == "add"]
        starts = [frame_top - 0.12 if i == 0 else inner_tops[i] + inner_gap / 2
                  for i, step in enumerate(layer) if step.opens_half]
        for start, add in zip(starts, adds):
            to = inner_tops[add] - inner_height / 2
            ax.plot([middle, side, side], [start, start, to], color=OKABE_ITO[2], lw=2)
            arrow(ax, (side, to), (inner_left + inner_width, to), OKABE_ITO[2], **ARROW)
    alt = (f"A diagram of {title.split(':')[0]}, read off its configuration: "
           + "; then ".join(map(_one_line, path))
           + ". One layer, opened up: " + "; then ".join(map(_one_line, layer)) + ".")
    return fig, alt


def show_architecture(model) -> None:
    """Draw ``model``'s path from ids to scores and one of its layers, every number read from its configuration."""
    fig, alt = architecture_figure(model)
    show(fig, alt)
