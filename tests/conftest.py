"""Shared fixtures: one seeded generator, and one tiny synthetic data set per session."""
from __future__ import annotations

import numpy as np
import pytest

from asdlib.synth import get_profile, synthesize


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A tiny data set (two machine types, development and evaluation layouts)."""
    root = tmp_path_factory.mktemp("tiny")
    synthesize(root, profile=get_profile("tiny"), seed=0, machines=["fan", "valve"],
               with_eval=True, workers=2, progress=False)
    return root
