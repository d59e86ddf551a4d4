"""A deck's title slide says which models its recorded outputs come from: the Hub's, or the offline stand-ins,
named, so a stand-in's numbers never sit under the real model's name unsaid."""

import nbformat

from utils.tools import slides


def recorded(*printed: str):
    """A small recorded notebook: a title slide, then a cell that printed ``printed``."""
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 1 · A title", metadata={"slideshow": {"slide_type": "slide"}}),
        nbformat.v4.new_code_cell("loaded = load_masked_lm('bert-base-uncased')", outputs=[
            nbformat.v4.new_output("stream", name="stdout", text="".join(line + "\n" for line in printed))],
            metadata={"slideshow": {"slide_type": "slide"}})])
    return notebook


def test_a_deck_recorded_online_names_the_hub_model(tmp_path):
    path = tmp_path / "01_online.ipynb"
    nbformat.write(recorded("Model: bert-base-uncased (downloaded from the Hub)", "something else"), path)
    html = slides.build_deck(path, tmp_path).read_text()
    assert "Recorded with bert-base-uncased (downloaded from the Hub)." in html
    assert "stand-in" not in html


def test_a_deck_recorded_offline_says_so_and_names_the_stand_ins(tmp_path):
    path = tmp_path / "03_offline.ipynb"
    nbformat.write(recorded("Tokenizer: gpt2 (offline stand-in for gpt2: whisper's copy)",
                            "Model: SmolLM2-135M-Instruct (offline stand-in for gpt2: HF_HUB_OFFLINE=1)"), path)
    line = slides.recorded_with(nbformat.read(path, as_version=4))
    assert line.startswith("*Recorded offline, with the stand-ins: gpt2 (offline stand-in")
    assert "SmolLM2-135M-Instruct (offline stand-in for gpt2" in line and "The real models' outputs differ" in line


def test_the_line_sits_on_the_title_slide(tmp_path):
    notebook = recorded("Model: gpt2 (from the local Hub cache)")
    slides.add_recording_line(notebook)
    assert notebook.cells[1].source == "*Recorded with gpt2 (from the local Hub cache).*"
    assert notebook.cells[1].metadata["slideshow"]["slide_type"] == "-"


def test_a_deck_recorded_on_the_offline_articles_names_them_not_the_tokenizer():
    notebook = recorded("Wikipedia: 50 train + 50 valid articles from the offline sample, a 2014 English dump's first "
                        "106 articles (most titled A…), shuffled with seed 42 (0.0 s)",
                        "Tokenizer: gpt2 tokenizer (rebuilt offline, identical ids) (offline stand-in for gpt2: no "
                        "network)")
    line = slides.recorded_with(notebook)
    assert line == ("*Recorded offline, with gpt2 tokenizer (rebuilt offline, identical ids). Articles: 50 train + 50 "
                    "valid of the offline 2014 sample (the Hub's give other numbers).*")  # real ids
