"""Figures that read on a projector and through a screen reader: one style, and a display that carries alt text.

``use_style()`` applies ``STYLE`` to matplotlib (the notebooks call it before they plot); the figures drawn inside
``utils`` use the same style in a ``plt.rc_context(STYLE)`` of their own.

``show(fig, alt)`` displays a figure as a PNG together with an HTML ``<img alt=...>`` of the same picture: JupyterLab
and nbconvert (HTML exports, reveal.js decks) prefer the HTML, so the text alternative reaches all three, and the
plain-text version of the output is the alt text itself.

It also draws the notebooks' figures from the numbers they compute, so a cell shows its idea, not its plotting:
the attention maps, the top words and the ten training steps (notebook 1), the KV cache's timings, temperature at
work, a layer's heads and the logit lens (notebook 2).

The PNG records the smallest font size in the figure (``MinFontPt``) and its resolution: ``tests/test_slides.py``
turns them into the pixel size the smallest text has on a 1280x720 slide.
"""

from __future__ import annotations

import base64
import html
import io
import math

import matplotlib
from cycler import cycler
from matplotlib.text import Text

# Okabe & Ito's palette: told apart with every common colour-vision deficiency (and in greyscale, by lightness)
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
DPI = 100
MIN_FONT_PT = 15  # 15 pt at 100 dpi is 20.8 px at full size: >= 18 px on a slide even when scaled down to 87%
STYLE = {
    "font.size": MIN_FONT_PT, "axes.titlesize": 16, "axes.labelsize": MIN_FONT_PT, "xtick.labelsize": MIN_FONT_PT,
    "ytick.labelsize": MIN_FONT_PT, "legend.fontsize": MIN_FONT_PT, "legend.title_fontsize": MIN_FONT_PT,
    "figure.titlesize": 16, "figure.dpi": DPI, "savefig.dpi": DPI,
    "axes.prop_cycle": cycler(color=OKABE_ITO),
}


def use_style() -> None:
    """Draw every later figure of this kernel in ``STYLE``: large fonts, Okabe & Ito's colours."""
    matplotlib.rcParams.update(STYLE)


def smallest_font_pt(fig) -> float:
    """The smallest font size (points) of any visible, non-empty text in ``fig``."""
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return min(sizes, default=float(MIN_FONT_PT))


def png_of(fig) -> bytes:
    """``fig`` as PNG bytes (tight bounding box, as Jupyter's inline backend draws it), with its smallest font size
    and resolution written into the file."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight",
                metadata={"MinFontPt": f"{smallest_font_pt(fig):g}", "Dpi": str(DPI)})
    return buffer.getvalue()


def figure_output(fig, alt: str) -> dict:
    """The display data for ``fig``: PNG, an HTML image with ``alt`` as its text alternative, and ``alt`` as text."""
    if not isinstance(alt, str) or not alt.strip():
        raise ValueError("Every figure needs alt text: one or two sentences saying what it shows and what it finds.")
    encoded = base64.b64encode(png_of(fig)).decode()
    return {"image/png": encoded, "text/plain": alt,
            "text/html": f'<img src="data:image/png;base64,{encoded}" alt="{html.escape(alt, quote=True)}">'}


def show(fig, alt: str, display_id: str | bool | None = None):
    """Display ``fig`` with its alt text (see the module docstring) and close it, so the inline backend does not
    draw it a second time. With ``display_id=True`` it returns a handle: ``handle.update(figure_output(fig, alt),
    raw=True)`` redraws it in place."""
    import matplotlib.pyplot as plt
    from IPython.display import display

    data = figure_output(fig, alt)
    plt.close(fig)  # a figure pyplot does not manage (matplotlib.figure.Figure()) is left as it is
    return display(data, raw=True, display_id=display_id)


def show_attention_and_masks(attention, tokens: list[str], title: str, found: str, row: int | None = None) -> None:
    """Three panels over the same tokens, rows attending to columns: ``attention`` (titled ``title``), with ``row``
    outlined where given (the blank's), then the visibility masks of a masked LM (every cell) and of a causal LM (the
    lower triangle). ``found``: what the attention map shows, one sentence for the alt text."""
    import matplotlib.pyplot as plt
    import torch
    from matplotlib.patches import Rectangle

    n = len(tokens)
    panels = [(attention, title), (torch.ones(n, n), "visible to a masked LM\n(dark): every token"),
              (torch.tril(torch.ones(n, n)), "visible to a causal LM\n(dark): itself and the past")]
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 6.0), width_ratios=(1.3, 1, 1), layout="constrained")
    from matplotlib.colors import PowerNorm

    for k, (ax, (matrix, name)) in enumerate(zip(axes, panels)):
        # the map on a square-root scale, so that weights of a few percent show beside a token that takes most
        ax.imshow(matrix.detach().float().numpy(), cmap="Blues",  # numpy: what matplotlib draws from
                  norm=PowerNorm(0.5, vmin=0, vmax=float(matrix.max())) if k == 0 else None, vmin=None if k == 0 else 0)
        ax.set_xticks(range(n), tokens, rotation=90)
        ax.set_yticks(range(n), tokens if k == 0 else [])  # the same rows in every panel: named once, on the left
        ax.set(title=name, xlabel="attends to (key)", ylabel="token (query)" if k == 0 else "")
    if row is not None:  # the row the text reads: one weight a key, adding up to 1
        axes[0].add_patch(Rectangle((-0.5, row - 0.5), n, 1, fill=False, edgecolor=OKABE_ITO[1], linewidth=3))
    top = float(attention.max())
    top_tick = math.floor(top * 100) / 100  # the colour bar's last tick, as the alt text gives it
    fig.colorbar(axes[0].images[0], ax=axes[0], location="bottom", fraction=0.05, pad=0.02,
                 ticks=[*(t for t in (0, 0.1, 0.3, 0.6) if t < top - 0.1), top_tick],  # the top too
                 label="attention weight (square-root scale)")
    show(fig, f"One {n} by {n} attention map and two visibility masks over the tokens {' '.join(tokens)}. Left, "
              f"{' '.join(title.split())}, with a square-root colour bar from 0 to {top_tick:.2f}: "
              f"{found}." + (f" The {tokens[row]} row is outlined." if row is not None else "") + " Middle, "
              "the masked model's visibility mask: every cell on, every token may attend to every token. Right, a "
              "causal model's visibility mask: only the lower triangle, each token sees itself and earlier ones.")


def top_words_figure(top: dict[str, float], title: str, text: str, beside: dict[str, dict[str, float]] | None = None):
    """(figure, alt text): notebook 1's most likely words for the blank of ``text`` (word -> probability, most likely
    first) under ``title``, and beside them any other model's (``beside``: its name -> its words) on the same axis,
    so that how sure each is compares at a glance."""
    import matplotlib.pyplot as plt

    panels = [(title, top), *(beside or {}).items()]
    fig, axes = plt.subplots(1, len(panels), figsize=(7 if len(panels) == 1 else 5.5 * len(panels), 3.6), sharex=True,
                             squeeze=False)
    for ax, (name, words) in zip(axes[0], panels):
        ax.barh(list(words)[::-1], list(words.values())[::-1])
        ax.set(title=name, xlabel="probability")
    axes[0][0].set_xlim(0, 1.15 * max(p for _, words in panels for p in words.values()))
    fig.suptitle(f"Top {len(top)} for: {text}")
    fig.tight_layout()
    alt = "; ".join(f"{name}: " + ", ".join(f"{w} {p:.3f}" for w, p in words.items()) for name, words in panels)
    return fig, (f"Bar chart{'s' if len(panels) > 1 else ''} of the most likely words for the blank in {text!r}, "
                 f"most likely first, on one probability axis. {alt}.")


def own_loop_figure(losses: list[float], uniform: float, vocab_size: int,
                    evaluations: list[tuple[int, float]] = (), lines: dict[str, float] | None = None,
                    whose: str = "your loop"):
    """(figure, alt text): notebook 3's own training loop (``whose``), its loss at every step and its ``evaluations``
    ((step, validation loss) pairs), under the uniform guess (``uniform``: ln of ``vocab_size``) and ``lines`` (name
    -> a count model's loss on the same validation text)."""
    import matplotlib.pyplot as plt

    with plt.rc_context(STYLE):  # the notebook's style, wherever it is drawn
        fig, ax = plt.subplots(figsize=(11, 3.8), layout="constrained")
        ax.plot(range(1, len(losses) + 1), losses, lw=1, label="training loss (each step)")
        if evaluations:  # dashed with markers: told apart from the training line by more than colour
            ax.plot(*zip(*evaluations), ls="--", marker="o", markersize=5, label="validation loss")
        ax.axhline(uniform, color="grey", ls=":", lw=1, label=f"uniform guess, ln {vocab_size}")
        for (name, loss), style in zip((lines or {}).items(), ("-.", (0, (5, 2, 1, 2, 1, 2)))):
            ax.axhline(loss, color="black", ls=style, lw=1, label=f"{name}, {loss:.2f}")
        ax.set(xlabel="step", ylabel="loss (nats per byte)",
               title=f"{whose.split(' (')[0]}, on bytes")  # why the reference loop ran (in brackets): the alt text
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))  # beside the curves, not over them
    held = (f"; its validation loss {evaluations[0][1]:.2f} at step {evaluations[0][0]}, {evaluations[-1][1]:.2f} at "
            f"step {evaluations[-1][0]}" if evaluations else "")
    counts = "".join(f", the {name} at {loss:.2f}" for name, loss in (lines or {}).items())
    return fig, (f"Training loss of {whose} over {len(losses)} steps on bytes, from {losses[0]:.2f} to "
                 f"{losses[-1]:.2f}{held}; lines: the uniform guess at {uniform:.2f}{counts}.")


def ten_steps_figure(losses: list[float], groups: list[tuple]):
    """(figure, alt text): notebook 1's ten training steps. Left, the batch's loss before each step and after the
    last; right, each group's mean change of -ln p with its 95% margin (``groups``: ``fill_mask.BlankGroups.summary``),
    on one axis centred on 0: a bar that crosses 0 is within chance."""
    import matplotlib.pyplot as plt

    with plt.rc_context(STYLE):
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained",
                                          gridspec_kw={"width_ratios": [1, 1.5]})
        left.plot(range(len(losses)), losses, marker="o", markersize=5)
        left.set(title="The batch it trains on", xlabel="step", ylabel="loss (nats)", ylim=(0, max(losses) * 1.1),
                 xticks=range(0, len(losses), 2))
        right.axvline(0, color="grey", lw=1)
        for row, (_, _, _, _, shift, margin) in enumerate(groups):
            right.errorbar(shift, row, xerr=margin, fmt="o", color=OKABE_ITO[0], markersize=9, capsize=5, lw=2)
        right.set_yticks(range(len(groups)), [f"{name}\n({blanks} blanks)" for name, blanks, *_ in groups])
        widest = max(abs(shift) + margin for *_, shift, margin in groups)
        right.set(title="Each group's change, ± its 95% margin", ylim=(len(groups) - 0.5, -0.5),
                  xlim=(-widest * 1.1, widest * 1.1), xlabel="change in mean -ln p (nats): left of 0 it fell")
    moves = "; ".join(f"{name}, {before:.2f} to {after:.2f} ({shift:+.2f} ± {margin:.2f})"
                      for name, _, before, after, shift, margin in groups)
    return fig, (f"Left: the batch's loss over {len(losses) - 1} training steps, from {losses[0]:.2f} to "
                 f"{losses[-1]:.2f}. Right: each group's change in mean -ln p of a hidden token, with its 95% margin, "
                 f"on an axis centred on 0: {moves}.")


def kv_cache_figure(refeed, cached):
    """(figure, alt text): notebook 2's two decodes of the same prompt, each ``greedy_decode``'s result, side by side
    over the sequence length: time per step (left) and the time spent so far (right), re-fed and cached."""
    import itertools

    import matplotlib.pyplot as plt

    lengths = [len(cached.prompt_ids) + n for n in range(len(cached.steps))]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.8), layout="constrained")
    for decoded, label, style in ((refeed, "re-feed the whole sequence", "-"), (cached, "KV cache (one new token)",
                                                                                  "--")):
        left.plot(lengths, [s.seconds * 1000 for s in decoded.steps], style, label=label)  # style, not colour alone
        right.plot(lengths, list(itertools.accumulate(s.seconds for s in decoded.steps)), style, label=label)
    left.set(title="Time per decoding step", xlabel="sequence length (tokens)", ylabel="time per step (ms)")
    right.set(title="Time spent so far", xlabel="sequence length (tokens)", ylabel="seconds")
    for ax in (left, right):
        ax.set_ylim(bottom=0)  # from 0: the two lines' heights compare as their times do
    left.legend()
    typical = "–" if cached.typical_step() is None else f"{cached.typical_step() * 1000:.0f}"  # after the prompt's
    return fig, (f"Two line charts over sequence lengths {lengths[0]} to {lengths[-1]} tokens. Left, time per step: "
                 f"re-feeding grows to {refeed.steps[-1].seconds * 1000:.0f} ms; with the KV cache, after the first "
                 f"step (the whole prompt, {cached.steps[0].seconds * 1000:.0f} ms), each step takes about {typical} "
                 f"ms. Right, the time spent so far: re-feeding ends at {refeed.seconds:.1f} s, the cache at "
                 f"{cached.seconds:.1f} s.")


def temperature_figure(logits, labels: list[str], temperatures=(0.5, 1.0, 2.0)):
    """(figure, alt text): the next-token probabilities softmax(``logits`` / t) of the ``len(labels)`` highest
    logits (named by ``labels``, most likely first) and of every other token together, one bar group each, one
    hatched bar per temperature t."""
    import matplotlib.pyplot as plt

    ranked = logits.argsort(descending=True)[:len(labels)]
    rest = f"the other {len(logits) - len(ranked):,}"  # the last group: every token not shown, together
    fig, ax = plt.subplots(figsize=(11, 4.8))
    shares = {}
    width = 0.8 / len(temperatures)
    for k, t in enumerate(temperatures):
        p = (logits / t).softmax(-1)
        heights = [*p[ranked].tolist(), 1 - float(p[ranked].sum())]
        shares[t] = (heights[0], heights[-1])
        ax.bar([x + (k - (len(temperatures) - 1) / 2) * width for x in range(len(heights))], heights, width=width,
               hatch=["", "//", "..", "xx"][k % 4], edgecolor="white", label=f"temperature {t:g}")  # hatching too
    ax.set_xticks(range(len(ranked) + 1), [*labels, rest], rotation=45, ha="right")
    ax.set(title="Next-token probabilities after the prompt", ylabel="probability")
    ax.legend(loc="upper center")  # over the small middle bars; the last group may be tall at a high temperature
    fig.tight_layout()
    at = ", ".join(f"{t:g}" for t in temperatures)
    return fig, (f"Grouped bar chart of the {len(ranked)} most likely next tokens after the prompt at temperatures "
                 f"{at}. The favourite, {labels[0]}, holds " + ", ".join(f"{s[0]:.0%}" for s in shares.values())
                 + f"; the last group, {rest} tokens together, holds "
                 + ", ".join(f"{s[1]:.0%}" for s in shares.values()) + ": a lower temperature sharpens the "
                 "distribution, a higher one flattens it.")


def lens_grid(guesses, rows: list[int], prompt_tokens: list[str], tokenizer, prompt: str, output: int | None = None):
    """(figure, alt text): the logit lens over a prompt. ``guesses[r]`` is the (values, indices) of the LM head's top
    token at every prompt position after ``rows[r]`` layers (0: the embeddings; ``output``: the model's output, after
    its last layer and final norm); each cell names that token, shaded by its probability."""
    import matplotlib.pyplot as plt
    import torch

    def short(token: str) -> str:  # a cell holds about 7 characters: a longer token ends in an ellipsis
        return repr(token if len(token) <= 7 else token[:6] + "…")

    shade = torch.stack([b.values for b in guesses]).float()
    size = (min(12, 1.6 * len(prompt_tokens) + 2.5), 0.4 * len(rows) + 1.6)  # inches: a slide holds 12.8 x 7.2
    fig, ax = plt.subplots(figsize=size, layout="constrained")
    ax.imshow(shade.numpy(), cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for r, b in enumerate(guesses):
        for c, token in enumerate(b.indices.tolist()):
            ax.text(c, r, short(tokenizer.decode([token])), ha="center", va="center",
                    color="white" if shade[r, c] > 0.6 else "black")
    ax.set_xticks(range(len(prompt_tokens)), prompt_tokens)
    names = ["embeddings" if n == 0 else "output" if n == output else f"after {n}" for n in rows]
    ax.set_yticks(range(len(rows)), names)
    ax.set(xlabel="each prompt token, and the lens's guess for the token after it",
           title="the LM head's top token after each layer (shade: its probability)")
    fig.colorbar(ax.images[0], ax=ax, label="probability of the guess")
    return fig, (f"A grid of {len(rows)} rows by {len(prompt_tokens)} positions of the prompt {prompt!r}. Each cell "
                 "is the token the LM head reads from that row's vector at that position, shaded by its probability. "
                 + " ".join(f"{name[0].upper()}{name[1:]}{' layers' if name.startswith('after') else ''}: "
                            + ", ".join(f"{tokenizer.decode([t])!r} {v:.2f}" for t, v in
                                        zip(b.indices.tolist(), b.values.tolist())) + "."
                            for name, b in zip(names, guesses)))


def head_shares(weights) -> dict[str, list[float]]:
    """Where each head's rows put their weight, averaged from the third position on (``weights``: (heads, n, n),
    n >= 3), in four disjoint parts: the token itself, the one before it, the first token, the rest."""
    n = weights.shape[-1]
    rows = range(2, n)  # from the third row on, itself, the previous and the first token are three different keys
    parts = {"itself": [weights[:, i, i] for i in rows], "the token before": [weights[:, i, i - 1] for i in rows],
             "the first token": [weights[:, i, 0] for i in rows]}
    shares = {name: [float(v) for v in sum(values) / len(rows)] for name, values in parts.items()}
    shares["the rest"] = [max(0.0, 1 - sum(s[h] for s in shares.values())) for h in range(weights.shape[0])]
    return shares


def leaning_most(shares: dict[str, list[float]]) -> dict[str, tuple[int, float]]:
    """For each part of ``head_shares``, the head that gives it the largest share, and that share."""
    return {part: max(enumerate(values), key=lambda pair: pair[1]) for part, values in shares.items()}


def heads_figure(weights, tokens: list[str], layer: int, shown: int = 0):
    """(figure, alt text): one layer's attention heads on the same tokens: head ``shown``'s weights as a map (left),
    and for every head where its rows put their weight (``head_shares``), one stacked bar each (right)."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import PowerNorm

    heads, n = weights.shape[0], weights.shape[-1]
    shares, bottom = head_shares(weights), [0.0] * heads
    with plt.rc_context(STYLE):  # the notebook's style, wherever it is drawn
        fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.8), width_ratios=(1, 1.25), layout="constrained")
        left.imshow(weights[shown].detach().float().numpy(), cmap="Blues",
                    norm=PowerNorm(0.5, vmin=0, vmax=1))  # a square-root shade: weights of a few percent show
        left.set_xticks(range(n), tokens, rotation=90)
        left.set_yticks(range(n), tokens)
        left.set(title=f"head {shown} of layer {layer} (square-root shade)", xlabel="attends to", ylabel="token")
        fig.colorbar(left.images[0], ax=left, fraction=0.046, pad=0.02, ticks=[0, 0.1, 0.3, 0.6, 1],
                     label="attention weight")
        for (name, values), hatch in zip(shares.items(), ("", "//", "..", "")):
            right.bar(range(heads), values, bottom=bottom, hatch=hatch, edgecolor="white", label=name,
                      color=None if name != "the rest" else "#BBBBBB")
            bottom = [b + v for b, v in zip(bottom, values)]
        right.set_xticks(range(heads), [str(h) for h in range(heads)])
        right.set(title=f"every head of layer {layer}: where its weight goes", xlabel="head",
                  ylabel="share of weight", ylim=(0, 1))
        right.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=2)
    found = "; ".join(f"{part}: most in head {h} ({share:.0%})" for part, (h, share) in leaning_most(shares).items())
    return fig, (f"Left, the {n} by {n} attention map of head {shown} of layer {layer} over the tokens "
                 f"{' '.join(tokens)}: each row spreads weight over itself and earlier tokens, none above the "
                 f"diagonal. Right, {heads} stacked bars, one per head of the layer, splitting the weight of the rows "
                 f"from the third on into the token itself, the token before, the first token and the rest. {found}.")
