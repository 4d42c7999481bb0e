"""Evaluating generators: feature extractors, distribution metrics, PIQA protocols, memorisation."""
