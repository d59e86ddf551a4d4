"""Helpers shared by the notebooks, tests and benchmarks: one module per concern, in one-way layers.

A module imports only from layers below its own (a function-level import counts too);
``tests/test_layers.py`` checks it::

    5  pretrain (notebook 3; the multi-GPU script)   wikipedia_beam (the full dump, Apache Beam)
       prepare (build only the stand-ins this machine will run)
         |                                                   |
    4  models (Hub model or offline stand-in)   wikipedia (train/valid subset: Hub or offline sample)
         |                                                   |
    3  assets (the catalogue of offline stand-ins and their builders)
         |
    2  masked_lm_stand_in (trains notebook 1's offline model)
         |
    1  wikitext (dump -> clean articles, parse cache)   tokenization (chunking)   fill_mask   generation
       sampling (temperature, top-k, top-p; the decoding explorer)   training_view (live loss curves)
       slides (offline reveal.js decks of the notebooks)
       device (device, precision, seeds, allocator)   profiles (smoke / classroom / full sizes)
       chunked_loss (the causal-LM loss without the whole batch's logits)   attention (one head, taken apart)
       exercises (verdicts for the notebooks' check cells)
         |
    0  cache (verified file cache)   hub (is the Hub reachable? complete local copies)   settings (env vars)
       checks (does this tokenizer belong to this model? plain numbers from numpy and torch scalars)
       figures (one readable, colour-blind-safe style; figures displayed with alt text)
"""

LAYERS: dict[str, int] = {
    "cache": 0, "hub": 0, "settings": 0, "checks": 0, "figures": 0,
    "wikitext": 1, "tokenization": 1, "fill_mask": 1, "generation": 1, "device": 1, "profiles": 1,
    "sampling": 1, "training_view": 1, "slides": 1, "chunked_loss": 1, "attention": 1, "exercises": 1,
    "masked_lm_stand_in": 2,
    "assets": 3,
    "models": 4, "wikipedia": 4,
    "pretrain": 5, "wikipedia_beam": 5, "prepare": 5,
}
