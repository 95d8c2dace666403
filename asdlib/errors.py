"""Every error the package raises on purpose: one class per concern, all under :class:`AsdlibError`.

The command line catches :class:`AsdlibError` and prints its message as one
line (``asdlib <command>: error: ...``); a notebook that raises one shows the
message as its last line.  Each class also derives from the built-in
exception it refines (``ValueError`` for bad input, ``FileExistsError`` for
a folder that is in the way, ...), so code that catches the built-in keeps
working.

=====================  ===========================================================
class                  raised when
=====================  ===========================================================
:class:`LayoutError`   a file or folder does not follow the DCASE 2021 Task 2 layout
:class:`AudioError`    a clip cannot be read as the layout expects
:class:`SectionError`  test clips of a section the classifier was not trained on
:class:`CacheError`    a feature or waveform cache does not match what was asked for
:class:`ConfigError`   a training configuration, recipe or settings name is not valid
:class:`CheckpointError`  a checkpoint is unreadable or made for other data or settings
:class:`ScoreError`    scores or submission files cannot be evaluated
:class:`SynthError`    the synthetic data generator cannot write where it was asked
:class:`NotebookError` a notebook cannot run as asked (parameters, failed cell)
:class:`GridError`     a grid of runs cannot run as described
:class:`FolderError`   an output folder holds files the command did not write
:class:`TrainingError` training produced a loss or weights that are not finite numbers
=====================  ===========================================================
"""
from __future__ import annotations


class AsdlibError(Exception):
    """Base class of the package's own errors: a message meant for the user, on one line."""


class LayoutError(AsdlibError, ValueError):
    """A file or folder does not follow the DCASE 2021 Task 2 layout."""


class AudioError(AsdlibError, ValueError):
    """A clip cannot be read as the layout expects."""


class SectionError(AsdlibError, ValueError):
    """Test clips of a section that the network was not trained on."""


class CacheError(AsdlibError, RuntimeError):
    """A cache folder whose index does not match the clips asked for."""


class ConfigError(AsdlibError, ValueError):
    """A training configuration, recipe or named settings that is not valid."""


class CheckpointError(AsdlibError, ValueError):
    """A checkpoint that cannot be used: unreadable, or made for another machine type or configuration."""


class ScoreError(AsdlibError, ValueError):
    """Scores that cannot be evaluated (NaN, mismatched clips, one class of labels)."""


class SynthError(AsdlibError, FileExistsError):
    """The synthetic data generator refuses a folder (not its own, or made with another seed or version)."""


class NotebookError(AsdlibError, ValueError):
    """A notebook that cannot be run as asked: no parameters cell, bad parameters, or a failed cell."""


class GridError(AsdlibError, ValueError):
    """A grid that cannot run as described."""


class FolderError(AsdlibError, FileExistsError):
    """An output folder that a command would clean or overwrite but did not make."""


class TrainingError(AsdlibError, FloatingPointError):
    """Training that produced a loss or weights that are not finite numbers."""


__all__ = ["AsdlibError", "LayoutError", "AudioError", "SectionError", "CacheError", "ConfigError",
           "CheckpointError", "ScoreError", "SynthError", "NotebookError", "GridError",
           "FolderError", "TrainingError"]
