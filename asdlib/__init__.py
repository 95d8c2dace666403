"""asdlib: a reproduction of "A Contrastive Semi-Supervised Learning Framework
for Anomaly Sound Detection" (DCASE 2021 Challenge Task 2).

Data flows one way through the modules: ``layout`` and ``audio`` (files),
``features`` and ``cache`` (log-mel), ``metrics`` and ``submission`` (scores
to tables).  ``synth`` makes DCASE-shaped data when the real data is absent.
"""
__version__ = "0.1.0"
