"""Figures carry alt text into JupyterLab, the HTML exports and the decks, and record their smallest font size."""

import base64
import io
import re
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest
from PIL import Image

from utils import figures

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (after choosing the backend)

RECORDED = sorted((Path(__file__).resolve().parent.parent / "docs" / "recorded").glob("*.ipynb"))
DEFAULT_ALT = "No description has been provided for this image"


def test_a_figure_output_is_a_png_and_the_same_image_with_alt_text():
    fig, ax = plt.subplots()
    ax.plot([1, 2], [3, 4])
    ax.set_title("a title", fontsize=20)
    ax.legend(["tiny"], fontsize=9)
    data = figures.figure_output(fig, 'Loss falls from 4 to 3 "quickly" & <surely>.')
    png = base64.b64decode(data["image/png"])
    assert Image.open(io.BytesIO(png)).info["MinFontPt"] == "9"  # the legend: the smallest text drawn
    assert data["text/plain"] == 'Loss falls from 4 to 3 "quickly" & <surely>.'
    assert data["text/html"] == (f'<img src="data:image/png;base64,{data["image/png"]}" '
                                 'alt="Loss falls from 4 to 3 &quot;quickly&quot; &amp; &lt;surely&gt;.">')
    plt.close(fig)


@pytest.mark.parametrize("alt", ["", "   ", None, 3])
def test_a_figure_without_alt_text_is_refused(alt):
    fig = plt.figure()
    with pytest.raises(ValueError, match="Every figure needs alt text"):
        figures.figure_output(fig, alt)
    plt.close(fig)


def test_importing_changes_no_global_style_and_use_style_does():
    code = ("import matplotlib; before = dict(matplotlib.rcParams); from utils import figures; "
            "assert dict(matplotlib.rcParams) == before; figures.use_style(); "
            "print(matplotlib.rcParams['font.size'], matplotlib.rcParams['axes.prop_cycle'].by_key()['color'][0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(float(figures.MIN_FONT_PT)), figures.OKABE_ITO[0]]


def test_the_style_reads_on_a_projector_and_in_colour_blind_eyes():
    assert figures.MIN_FONT_PT * figures.DPI / 72 >= 18 / 0.87  # 18 px on a slide even when shrunk to 87%
    with plt.rc_context(figures.STYLE):
        fig, ax = plt.subplots()
        ax.plot([0, 1], label="a")
        ax.set(title="t", xlabel="x", ylabel="y")
        ax.legend()
        assert figures.smallest_font_pt(fig) >= figures.MIN_FONT_PT
        colours = [line["color"] for line in plt.rcParams["axes.prop_cycle"]]
        plt.close(fig)
    assert colours[:4] == figures.OKABE_ITO[:4]


@pytest.mark.parametrize("notebook", RECORDED, ids=[nb.stem for nb in RECORDED])
def test_every_image_in_the_html_export_has_its_own_alt_text(notebook, tmp_path):
    """The recorded outputs exported as `make run` does: no image keeps nbconvert's placeholder."""
    from utils.tools.handouts import build_handout

    html = build_handout(notebook, tmp_path).read_text()
    images = re.findall(r"<img [^>]*>", html)
    assert images, f"{notebook.name} shows figures"
    for img in images:
        alt = re.search(r'alt="([^"]*)"', img)
        assert alt and alt.group(1).strip() and alt.group(1) != DEFAULT_ALT, img[:200]
