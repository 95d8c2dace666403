"""Shared fixtures: one seeded generator, and one tiny synthetic data set per session."""
from __future__ import annotations

import os

# One OpenMP thread per test process (and its subprocesses): the networks here are tiny, and
# when another process holds a core, OpenMP threads spin-waiting on each other made a 1 s
# training take 70 s on the 2-core machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from asdlib.synth import get_profile, synthesize  # noqa: E402


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
