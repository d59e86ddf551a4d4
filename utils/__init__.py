"""Helpers for the three notebooks. Which folder is for whom:

- ``utils/`` itself: what the notebooks import, and nothing else. A student reads these: ``sampling``,
  ``attention``, ``generation``, ``fill_mask``, ``pretraining`` ...
- ``utils/data/``: for whoever prepares text at scale (MediaWiki markup -> articles, the Apache Beam pipeline).
- ``utils/offline/``: for maintainers: the verified cache, the Hub check, the offline stand-ins and their builds.
- ``utils/tools/``: for instructors and clusters: ``python -m utils.tools.{prepare,slides,pretrain,record}``.
- ``utils/support/``: for maintainers: input validation, the allocator tuning, the chunking cache key and the
  graders behind notebook 2's build checks, which the lesson modules call.

Imports go one way, down ``LAYERS`` (a module imports only modules of a lower layer, even inside a function);
``tests/test_layers.py`` checks it, and that nothing outside ``tools/`` imports a command.
"""

LAYERS: dict[str, int] = {
    # below everything: safe reading and writing; the basic checks; the reference solutions, as modules
    "support.files": -1, "support.basic_checks": -1, "support.solutions": -1,
    "settings": 0, "figures": 0, "original_tutorial": 0,
    "support.validation": 0, "support.allocator": 0, "support.fingerprint": 0,
    "offline.cache": 0, "offline.hub": 0, "tools.record": 0,
    "data.mediawiki": 1, "chunking": 1, "fill_mask": 1, "generation": 1, "device": 1, "profiles": 1,
    "sampling": 1, "training_view": 1, "chunked_loss": 1, "baselines": 1, "attention": 1, "exercises": 1,
    "schematics": 1, "support.callbacks": 1,
    "tools.deck": 1, "tools.checkpoints": 1, "offline.packages": 1, "tools.slides": 2, "tools.handouts": 3,
    "offline.masked_lm_stand_in": 2, "data.beam_workers": 2, "masking": 2, "fill_checks": 2, "blocks": 2,
    "support.layout_mistakes": 2, "gpt_checks": 2, "attention_checks": 2, "decoding_checks": 2,
    "prediction_checks": 2, "run_checks": 2,
    "offline.assets": 3, "support.build_mistakes": 3, "mask_checks": 3,
    "models": 4, "wikipedia": 4, "build_checks": 4, "diagrams": 3,
    "pretraining": 5, "data.wikipedia_beam": 5, "tools.prepare": 5,
    "tools.pretrain": 6, "training_checks": 6, "run_reports": 6,
}
