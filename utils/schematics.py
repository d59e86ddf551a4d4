"""The mechanisms drawn on the run's own tokens: each figure is a schematic whose labels are what the model read.

- ``shift_figure``: a causal LM's labels are its inputs moved one place (notebook 3);
- ``chunks_figure``: overflow chunking against packing, on the articles' token counts (notebook 3);
- ``cache_figure``: what one decoding step computes, re-feeding against the KV cache (notebook 2);
- ``padding_figure``: a batch's attention masks, padded on the right and on the left, and where each row writes
  next (notebook 2);
- ``beam_tree`` and ``beam_figure``: beam search's candidates, kept and dropped, step by step (notebook 2);
- ``corruption_figure``: the masked-LM corruption of one sentence, each token over its label (notebook 1).

Each returns ``(figure, alt text)`` for ``utils.figures.show``; the alt text says what the picture holds.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

from utils.figures import OKABE_ITO, STYLE

COMPUTED, CACHED, MASKED, PAD, DROPPED = "#9CC9E8", "#F5C77E", "#D9D9D9", "#EFEFEF", "#F3B7A1"
KIND_COLOURS = {None: ("#FFFFFF", "#BBBBBB"), "mask": (CACHED, OKABE_ITO[1]), "random": (DROPPED, OKABE_ITO[3]),
                "kept": (COMPUTED, OKABE_ITO[0])}  # the corruption: not picked, then what a picked token became
WIDEST = 11  # characters of a token shown in a box; longer ones end in "…"


def token_label(text: str) -> str:
    """A token as a box shows it: a leading space as ␣, a newline as ↵, at most ``WIDEST`` characters."""
    shown = text.replace("\n", "↵")
    shown = "␣" + shown[1:] if shown.startswith(" ") else shown
    return shown if len(shown) <= WIDEST else shown[:WIDEST - 1] + "…"


def quoted(tokens: list[str]) -> str:
    """Tokens as alt text reads them: each in quotes, its spaces kept."""
    return ", ".join(f"“{t}”" for t in tokens)


def _styled(draw):
    """``draw`` run in ``STYLE``, whatever style the kernel has."""
    @functools.wraps(draw)
    def styled(*args, **kwargs):
        import matplotlib.pyplot as plt

        with plt.rc_context(STYLE):
            return draw(*args, **kwargs)
    return styled


def _canvas(width: float, height: float):
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.axis("off")
    return fig, ax


def box(ax, x, y, width, height, text, fill="#FFFFFF", edge="#333333", bold=False, hatch=None, rounding=0.08,
        line=1.2, linespacing=1.2):
    """A rounded box at (x, y), ``text`` centred in it; bold boxes have a thick edge and bold text (every drawing of
    ``utils``: these schematics and ``diagrams``' architecture)."""
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x, y), width, height, boxstyle=f"round,pad=0,rounding_size={rounding}",
                                facecolor=fill, edgecolor=edge, linewidth=2.5 if bold else line, hatch=hatch))
    if text:
        ax.text(x + width / 2, y + height / 2, text, ha="center", va="center", fontsize=STYLE["font.size"],
                fontweight="bold" if bold else "normal", linespacing=linespacing)


def arrow(ax, start, end, colour="#333333", width=1.5, head=16, gap=2):
    """An arrow from ``start`` to ``end``, ``gap`` points short of each."""
    ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle="-|>", color=colour, lw=width,
                                                          mutation_scale=head, shrinkA=gap, shrinkB=gap))


@_styled
def shift_figure(tokens: list[str]):
    """The first ``len(tokens)`` tokens of a chunk: each position reads its token (top) and is scored on the next
    (bottom), ``len(tokens) - 1`` examples in one pass."""
    if len(tokens) < 2:
        raise ValueError("The shift needs at least two tokens: one to read and the next to be scored on.")
    pairs = list(zip(tokens, tokens[1:]))
    cell, left = 1.6, 2.0
    fig, ax = _canvas(left + cell * len(pairs) + 0.1, 3.7)
    ax.text(0.05, 2.2, "reads, with\nevery token\nbefore it", va="center", linespacing=1.1)
    ax.text(0.05, 0.6, "is scored on", va="center")
    for i, (read, target) in enumerate(pairs):
        x = left + i * cell
        box(ax, x, 1.85, cell - 0.15, 0.7, token_label(read), fill=COMPUTED, edge=OKABE_ITO[0])
        box(ax, x, 0.25, cell - 0.15, 0.7, token_label(target), fill=CACHED, edge=OKABE_ITO[1])
        arrow(ax, (x + (cell - 0.15) / 2, 1.85), (x + (cell - 0.15) / 2, 0.95))
        ax.text(x + (cell - 0.15) / 2, 2.85, f"position {i}", ha="center", va="center", color="#555555")
    ax.text(left, 3.4, "position t sees tokens 0 to t (the causal mask) and is scored on token t + 1", va="center")
    alt = (f"Two rows of {len(pairs)} boxes: the model reads the tokens {quoted(tokens[:-1])} (top), and at each "
           f"position is scored on the token after it, {quoted(tokens[1:])} (bottom). The labels are the inputs "
           "moved one place to the left.")
    return fig, alt


def _chunk_row(ax, y: float, n: int, context_length: int, marks: list[int]) -> tuple[int, int]:
    """``n`` tokens cut into chunks of ``context_length``, one unit wide each: the first three, the last two,
    those holding a ``marks`` offset (an end-of-text token, drawn as a black line), "…" for the ones between, and the
    short tail. Returns (full chunks, tail tokens)."""
    full, tail = divmod(n, context_length)
    shown = sorted({*range(min(3, full)), *range(max(0, full - 2), full), *(m // context_length for m in marks
                                                                          if m // context_length < full)})
    x, unit = 1.6, 0.8
    for i, chunk in enumerate(shown):
        if i and chunk > shown[i - 1] + 1:
            ax.text(x + 0.45 * unit, y + 0.3, "…", ha="center", va="center")
            x += 0.9 * unit
        box(ax, x, y, unit * 0.94, 0.6, "", fill=COMPUTED, edge=OKABE_ITO[0])
        for m in marks:
            if m // context_length == chunk:
                ax.plot([x + unit * (m % context_length) / context_length] * 2, [y - 0.1, y + 0.7], color="#000000",
                        lw=3)
        x += unit
    if full and shown[-1] < full - 1:
        x += 0.9 * unit
    if tail:
        box(ax, x, y, max(unit * tail / context_length, 0.04), 0.6, "", fill=DROPPED, edge=OKABE_ITO[3], hatch="//")
        for m in marks:
            if m >= full * context_length:
                ax.plot([x + unit * (m - full * context_length) / context_length] * 2, [y - 0.1, y + 0.7],
                        color="#000000", lw=3)
        x += max(unit * tail / context_length, 0.04)
    ax.text(x + 0.2, y + 0.3, f"{full:,} chunk{'s' * (full != 1)}, {tail} dropped", va="center")
    return full, tail


@_styled
def chunks_figure(lengths: list[int], context_length: int):
    """Overflow chunking (each article cut on its own, its short tail dropped) against packing (the articles joined,
    an end-of-text token after each, one tail dropped), for articles of ``lengths`` tokens. Each chunk is drawn one
    unit wide, whatever its tokens; "…" stands for the chunks between the ones drawn."""
    if not lengths or min(lengths) < 1 or context_length < 1:
        raise ValueError("Give each article's token count (at least one article, each with a token) and a context "
                         "length of at least 1.")
    ends = list(itertools.accumulate(n + 1 for n in lengths))  # after each article, its end-of-text token
    rows = [(f"article {a}", n, []) for a, n in enumerate(lengths)] + [("packed", ends[-1], [e - 1 for e in ends])]
    fig, ax = _canvas(11.0, 1.0 * len(rows) + 1.1)
    kept = {}
    for r, (name, n, marks) in enumerate(rows):
        y = 1.0 * (len(rows) - 1 - r) + 0.35
        ax.text(0.05, y + 0.3, name, va="center")
        kept[name] = _chunk_row(ax, y, n, context_length, marks)
    ax.text(1.6, 1.0 * len(rows) + 0.5, f"blue: a chunk of {context_length} tokens, kept; red, hatched: a tail, "
            "dropped; black: end-of-text", va="center")
    def counted(chunks: int, dropped: int) -> str:
        return f"{chunks} chunk{'s' * (chunks != 1)}, {dropped} token{'s' * (dropped != 1)} dropped"

    per_article = "; ".join(f"article {a}: {counted(*kept[f'article {a}'])}" for a in range(len(lengths)))
    alt = (f"{len(lengths)} articles of {', '.join(f'{n:,}' for n in lengths)} tokens, cut into chunks of "
           f"{context_length}. Overflow, each article on its own: {per_article}. Packed into one stream with an "
           f"end-of-text token after each article: {counted(*kept['packed'])}.")
    return fig, alt


@_styled
def cache_figure(tokens: list[str]):
    """One decoding step over ``tokens`` (the last is the newest), as query rows against key columns: re-feeding
    computes every key, value and score again; with the KV cache, the newest token's key, value and scores only."""
    from matplotlib.patches import Patch, Rectangle

    n = len(tokens)
    if n < 2:
        raise ValueError("The cache needs at least two tokens: the ones before and the newest.")
    import matplotlib.pyplot as plt

    labels = [token_label(t) for t in tokens]
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 0.4 * n + 3.0), layout="constrained")
    for ax, cached in zip(axes, (False, True)):
        for q in range(n):
            for k in range(n + 1):  # column n: the key and value vectors of each token (row q)
                if k == n:
                    colour = CACHED if cached and q < n - 1 else COMPUTED
                elif k > q:
                    colour = MASKED
                else:
                    colour = COMPUTED if not cached or q == n - 1 else "#FFFFFF"
                ax.add_patch(Rectangle((k + (0.4 if k == n else 0), n - 1 - q), 1, 1, facecolor=colour,
                                       edgecolor="#FFFFFF" if colour != "#FFFFFF" else "#E0E0E0", lw=1))
        ax.set_xlim(0, n + 1.4)
        ax.set_ylim(0, n)
        ax.set_xticks([k + 0.5 for k in range(n)] + [n + 0.9], labels + ["k, v"], rotation=90)
        ax.set_yticks([n - 0.5 - q for q in range(n)], labels)
        ax.tick_params(length=0)
        for side in ax.spines.values():
            side.set_visible(False)
        ax.set_title("KV cache: the newest token only" if cached else "re-feed: every token again")
        ax.set_xlabel("attends to (key)")
    axes[0].set_ylabel("token (query)")
    fig.legend(handles=[Patch(facecolor=COMPUTED, label="computed at this step"),
                        Patch(facecolor=CACHED, label="read from the cache"),
                        Patch(facecolor=MASKED, label="masked: the future")],
               loc="outside lower center", ncols=3, frameon=False)
    scores = n * (n + 1) // 2
    alt = (f"Two grids over the {n} tokens {quoted(tokens)}, queries as rows and keys as columns, with a column for "
           f"each token's key and value vectors. Left, re-feeding: this step computes all {n} keys and values and "
           f"{scores} attention scores. Right, with the KV cache: it computes the key and value of "
           f"{quoted(tokens[-1:])} only, reads the other {n - 1} from the cache, and computes {n} scores, one row.")
    return fig, alt


@_styled
def padding_figure(rows: dict[str, list[list[int]]]):
    """A batch padded on each side: ``rows`` maps a side ("right", "left") to its rows' attention masks (1 on a
    real token, 0 on a pad). Real tokens show their position, counted from the row's first real token; the last
    column, where each row's next token is read, is outlined, in orange where it is a pad."""
    from matplotlib.patches import Rectangle

    sides = list(rows)
    width = max(len(r) for side in sides for r in rows[side])
    fig, ax = _canvas(0.5 * width + 4.8, 0.85 * sum(len(rows[s]) for s in sides) + 0.6 * len(sides) + 0.7)
    y = fig.get_size_inches()[1] - 0.1
    writes_after_pad = []
    for side in sides:
        y -= 0.45
        ax.text(0.05, y, f"pads on the {side}", va="center", fontweight="bold")
        for r, row in enumerate(rows[side]):
            y -= 0.85
            ax.text(0.05, y + 0.3, f"prompt {r + 1}", va="center")
            position = 0
            for c, real in enumerate(row):
                x = 1.5 + 0.5 * c
                ax.add_patch(Rectangle((x, y), 0.46, 0.6, facecolor=COMPUTED if real else PAD, edgecolor="#FFFFFF"))
                ax.text(x + 0.23, y + 0.3, str(position) if real else "pad", ha="center", va="center",
                        rotation=0 if real else 90, fontsize=STYLE["font.size"], color="#000000" if real else "#777777")
                position += bool(real)
            last = not row[-1]
            writes_after_pad += [f"prompt {r + 1} padded on the {side}"] if last else []
            x = 1.5 + 0.5 * (len(row) - 1)
            ax.add_patch(Rectangle((x - 0.04, y - 0.04), 0.54, 0.68, fill=False, lw=3,
                                   edgecolor=OKABE_ITO[3] if last else "#000000"))
            ax.text(x + 0.65, y + 0.3, "next token read from a pad" if last else "next token", va="center",
                    color=OKABE_ITO[3] if last else "#000000")
        y -= 0.15
    ax.text(0.05, 0.3, "numbers: each real token's position, counted from its row's first real token", va="center",
            color="#555555")
    alt = (f"Grids of the same {sum(len(rows[s]) for s in sides) // len(sides)} prompts padded on the "
           f"{' and on the '.join(sides)}, {width} columns, pads greyed, each real token numbered with its position "
           "from its row's first real token. The last column, where each row's next token is read, is outlined"
           + (f"; it is a pad for {' and '.join(writes_after_pad)}." if writes_after_pad else
              "; it is a real token in every row."))
    return fig, alt


@dataclass
class Candidate:
    parent: int  # the index of the beam it extends, in the previous step's kept beams
    token: int
    score: float  # the beam's summed ln p so far
    kept: bool


def beam_tree(model, prompt_ids, width: int = 2, steps: int = 3) -> list[list[Candidate]]:
    """Beam search as notebook 2's exercise describes it: each step extends each kept beam by its ``width`` most
    likely tokens, scored by summed ln p, and keeps the best ``width`` candidates. One list of candidates per step,
    in the order of the beams they extend."""
    import torch

    beams = [(prompt_ids[0].tolist(), 0.0)]
    tree = []
    with torch.no_grad():
        for _ in range(steps):
            candidates = []
            for b, (ids, score) in enumerate(beams):
                log_p = torch.log_softmax(model(torch.tensor([ids])).logits[0, -1].float(), dim=-1)
                best = log_p.topk(width)
                candidates += [Candidate(b, int(t), score + float(v), False) for v, t in zip(best.values, best.indices)]
            chosen = sorted(range(len(candidates)), key=lambda i: -candidates[i].score)[:width]
            for i in chosen:
                candidates[i].kept = True
            tree.append(candidates)
            beams = [(beams[candidates[i].parent][0] + [candidates[i].token], candidates[i].score) for i in chosen]
    return tree


@_styled
def beam_figure(tree: list[list[Candidate]], decode) -> tuple:
    """``beam_tree``'s steps drawn left to right: every candidate with its token (``decode(id)``) and summed ln p,
    the kept ones outlined, the dropped ones grey; lines join each to the beam it extends."""
    most = max(len(step) for step in tree)
    column, row = 3.0, 1.0
    fig, ax = _canvas(2.0 + column * len(tree) + 0.3, row * most + 1.2)
    height = row * most
    box(ax, 0.1, height / 2 + 0.25, 1.6, 0.7, "prompt", bold=True)
    kept_points = [(1.7, height / 2 + 0.6)]
    for s, step in enumerate(tree):
        x = 2.0 + column * s + 0.5
        points = []  # (score, the box's right-middle point) of each kept candidate
        shown = sorted(range(len(step)), key=lambda i: (-kept_points[step[i].parent][1], i))  # beside its parent
        for place, i in enumerate(shown):
            c = step[i]
            y = height - (place + 0.5) * height / len(step) + 0.25
            box(ax, x, y - 0.35, column - 0.7, 0.7, f"{token_label(decode(c.token))}  {c.score:.2f}",
                 fill=COMPUTED if c.kept else PAD, edge=OKABE_ITO[0] if c.kept else "#AAAAAA", bold=c.kept)
            arrow(ax, kept_points[c.parent], (x, y), colour="#333333" if c.kept else "#AAAAAA", width=1.2)
            if c.kept:
                points.append((-c.score, i, (x + column - 0.7, y)))
        ax.text(x + (column - 0.7) / 2, height + 0.75, f"step {s + 1}", ha="center", va="center", color="#555555")
        kept_points = [point for *_, point in sorted(points)]  # in beam_tree's order: the best beam first
    steps = "; ".join(f"step {s + 1}: " + ", ".join(f"{quoted([decode(c.token)])} {c.score:.2f}"
                                                     + (" kept" if c.kept else " dropped") for c in step)
                      for s, step in enumerate(tree))
    alt = (f"A tree of beam search with {sum(c.kept for c in tree[0])} beams over {len(tree)} steps, left to right "
           f"from the prompt: each candidate token with its beam's summed ln p, kept ones outlined. {steps}.")
    return fig, alt


@_styled
def corruption_figure(original: list[str], shown: list[str], labels: list[int], mask_token: str, per_row: int = 9):
    """The masked-LM corruption of one sentence, ``per_row`` tokens a row: each token as the model reads it
    (``shown``), coloured where it was picked (shown as ``mask_token``, as a random token or unchanged), over its
    label: the ``original`` token where the loss scores it, -100 where ``labels`` is -100."""
    if not original or not len(original) == len(shown) == len(labels):
        raise ValueError("Give one original token, one shown token and one label for each position.")
    kinds = [None if label == -100 else "mask" if new == mask_token else "kept" if new == old else "random"
             for old, new, label in zip(original, shown, labels)]
    starts = range(0, len(original), per_row)
    cell = 1.2
    fig, ax = _canvas(1.2 + cell * per_row, 1.7 * len(starts) + 0.9)
    for r, start in enumerate(starts):
        y = 1.7 * (len(starts) - 1 - r) + 0.25
        ax.text(0.05, y + 0.95, "reads", va="center")
        ax.text(0.05, y + 0.25, "label", va="center", color="#555555")
        for c, p in enumerate(range(start, min(start + per_row, len(original)))):
            x = 1.2 + cell * c
            fill, edge = KIND_COLOURS[kinds[p]]
            box(ax, x, y + 0.65, cell - 0.12, 0.6, token_label(shown[p]), fill=fill, edge=edge,
                 bold=kinds[p] is not None)
            ax.text(x + (cell - 0.12) / 2, y + 0.25, "-100" if kinds[p] is None else token_label(original[p]),
                    ha="center", va="center", color="#999999" if kinds[p] is None else "#000000")
    top = 1.7 * len(starts) + 0.55
    for x, (kind, name) in zip((1.2, 4.4, 7.6), (("mask", mask_token), ("random", "random"),
                                                 ("kept", "unchanged"))):
        box(ax, x, top - 0.25, 0.5, 0.5, "", *KIND_COLOURS[kind])
        ax.text(x + 0.65, top, f"picked: {name}", va="center")
    counts = {kind: kinds.count(kind) for kind in ("mask", "random", "kept")}
    picked = [f"{quoted([original[p]])} as {quoted([shown[p]])}" for p in range(len(kinds)) if kinds[p]]
    alt = (f"The sentence's {len(original)} tokens as the model reads them, each over its label. "
           f"{sum(counts.values())} picked: {counts['mask']} shown as {mask_token}, {counts['random']} as a random "
           f"token, {counts['kept']} unchanged ({', '.join(picked) or 'none'}); each picked position's label is its "
           f"original token, every other position's -100.")
    return fig, alt
