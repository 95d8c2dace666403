"""Synthetic machine sounds in the DCASE 2021 Task 2 layout (the built-in default data)."""
from .generate import PROFILES, Profile, get_profile, summary, synthesize

__all__ = ["PROFILES", "Profile", "get_profile", "summary", "synthesize"]
