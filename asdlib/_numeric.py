"""Numbers the package shares.

``EPS`` is the float64 machine epsilon, the floor the official code puts
under logarithms (log-mel, the MobileNetV2 clip score) and under the values
the official evaluator averages harmonically.
"""
from __future__ import annotations

import sys

EPS = sys.float_info.epsilon
