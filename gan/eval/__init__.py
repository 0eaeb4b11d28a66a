"""Evaluation: feature extractors, the scoring protocol, live diagnostics and hooks.

`gan.metrics` holds the math (pure functions of features); this package makes the
features (`features`: the interface and the LeNet classifiers; `inception`: the
standard FID Inception-v3, its weights read without torch by `torchscript`), draws
and scores a generator's samples under a recorded protocol (`evaluate`), watches a
run while it trains (`diagnostics`) and plugs both into the program (`hooks`).
"""
