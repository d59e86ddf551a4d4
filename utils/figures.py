"""Figures that read on a projector and through a screen reader: one style, and a display that carries alt text.

``use_style()`` applies ``STYLE`` to matplotlib (the notebooks call it before they plot); the figures drawn inside
``utils`` use the same style in a ``plt.rc_context(STYLE)`` of their own.

``show(fig, alt)`` displays a figure as a PNG together with an HTML ``<img alt=...>`` of the same picture: JupyterLab
and nbconvert (HTML exports, reveal.js decks) prefer the HTML, so the text alternative reaches all three, and the
plain-text version of the output is the alt text itself.

The PNG records the smallest font size in the figure (``MinFontPt``) and its resolution: ``tests/test_slides.py``
turns them into the pixel size the smallest text has on a 1280x720 slide.
"""

from __future__ import annotations

import base64
import html
import io

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


def show_attention_and_masks(attention, tokens: list[str], title: str, found: str) -> None:
    """Three panels over the same tokens, rows attending to columns: ``attention`` (titled ``title``), then the
    visibility masks of a masked LM (every cell) and of a causal LM (the lower triangle). ``found``: what the
    attention map shows, one sentence for the alt text."""
    import matplotlib.pyplot as plt
    import torch

    n = len(tokens)
    panels = [(attention, title), (torch.ones(n, n), "visible to a masked LM\n(dark): every token"),
              (torch.tril(torch.ones(n, n)), "visible to a causal LM\n(dark): only the past")]
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 6.0), width_ratios=(1.3, 1, 1), layout="constrained")
    from matplotlib.colors import PowerNorm

    for k, (ax, (matrix, name)) in enumerate(zip(axes, panels)):
        # the map on a square-root scale, so that weights of a few percent show beside a token that takes most
        ax.imshow(matrix, cmap="Blues", norm=PowerNorm(0.5, vmin=0, vmax=float(matrix.max())) if k == 0 else None,
                  vmin=None if k == 0 else 0)
        ax.set_xticks(range(n), tokens, rotation=90)
        ax.set_yticks(range(n), tokens if k == 0 else [])  # the same rows in every panel: named once, on the left
        ax.set(title=name, xlabel="attends to (key)", ylabel="token (query)" if k == 0 else "")
    fig.colorbar(axes[0].images[0], ax=axes[0], location="bottom", fraction=0.05, pad=0.02,
                 label="attention weight (square-root scale)")
    show(fig, f"One {n} by {n} attention map and two visibility masks over the tokens {' '.join(tokens)}. Left, "
              f"{' '.join(title.split())}, with a square-root colour bar from 0 to {float(attention.max()):.2f}: "
              f"{found}. Middle, "
              "the masked model's visibility mask: every cell on, every token may attend to every token. Right, a "
              "causal model's visibility mask: only the lower triangle, each token sees itself and earlier ones.")
