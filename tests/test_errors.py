"""The package's error hierarchy, and the command line turning every error into one line."""
from __future__ import annotations

import errno

import pytest

from asdlib import cli, errors


def _raising(exc):
    def command(args):
        raise exc
    return command


@pytest.mark.parametrize("name", [n for n in errors.__all__ if n != "AsdlibError"])
def test_every_error_class_is_an_asdlib_error_and_the_cli_prints_it_on_one_line(name, monkeypatch, capsys):
    cls = getattr(errors, name)
    assert issubclass(cls, errors.AsdlibError)
    monkeypatch.setattr(cli, "_cmd_evaluate", _raising(cls(f"{name}: what went wrong")))
    assert cli.main(["evaluate", "sub", "--data", "d"]) == 2
    err = capsys.readouterr().err
    assert err == f"asdlib evaluate: error: {name}: what went wrong\n"


def test_a_read_only_or_full_disk_is_one_line_naming_the_file(monkeypatch, capsys):
    monkeypatch.setattr(cli, "_cmd_evaluate", _raising(OSError(errno.EROFS, "Read-only file system",
                                                              "/data/out/x.csv")))
    assert cli.main(["evaluate", "sub", "--data", "d"]) == 2
    assert capsys.readouterr().err == "asdlib evaluate: error: /data/out/x.csv: Read-only file system\n"


def test_ctrl_c_says_what_was_kept_and_how_to_go_on(monkeypatch, capsys):
    monkeypatch.setattr(cli, "_cmd_evaluate", _raising(KeyboardInterrupt()))
    assert cli.main(["evaluate", "sub", "--data", "d"]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "interrupted" in err and "same command" in err


def test_the_modules_keep_their_error_names():
    from asdlib import audio, cache, checkpoint, grid, layout, metrics, notebooks, scoring

    assert layout.LayoutError is errors.LayoutError and audio.AudioError is errors.AudioError
    assert scoring.SectionError is errors.SectionError and cache.CacheError is errors.CacheError
    assert checkpoint.CheckpointError is errors.CheckpointError and metrics.ScoreError is errors.ScoreError
    assert notebooks.NotebookError is errors.NotebookError and grid.GridError is errors.GridError
    assert not issubclass(errors.SectionError, errors.LayoutError)


def test_a_checkpoint_that_cannot_be_written_is_an_os_error_naming_it_and_leaves_nothing(tmp_path, monkeypatch):
    """torch.save on a full disk raises RuntimeError('basic_ios::clear: iostream error'), not OSError."""
    import torch

    from asdlib import checkpoint
    from asdlib.config import TrainConfig

    def full(obj, f):
        raise RuntimeError("basic_ios::clear: iostream error")

    monkeypatch.setattr(torch, "save", full)
    ckpt = checkpoint.Checkpoint(machine="fan", sections=["00"], config=TrainConfig(), epoch=1, model={})
    with pytest.raises(OSError, match=r"model.pt: the checkpoint could not be written .* disk full"):
        checkpoint.save_checkpoint(tmp_path / "model.pt", ckpt)
    assert list(tmp_path.iterdir()) == []
