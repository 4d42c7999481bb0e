"""Evaluating generators: feature extractors, distribution metrics, PIQA protocols, memorisation.

    registry.py    every metric, defined once (name, direction, metrics.json key, label, format)
    folder.py      the evaluation folder contract: file names, writing (metrics.json last), reading
    settings.py    evaluate-gan's options (typed config)
    fakes.py       where fakes come from (samples folder, image folder, checkpoint)
    evaluate.py    the pipeline; distribution.py, iqa.py, memorization.py, features.py compute
    tables.py      metrics.md; compare.py: --compare; figures.py: the PNGs
"""
