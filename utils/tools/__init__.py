"""For instructors and clusters: commands run with ``python -m``.

    python -m utils.tools.prepare    # build the offline stand-ins this machine will use
    python -m utils.tools.slides     # reveal.js decks and PDFs of the notebooks
    python -m utils.tools.pretrain   # notebook 3's pretraining, on one GPU or many
"""
