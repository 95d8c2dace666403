"""Atomic file writing: a file either appears complete or not at all; and one writer at a time.

Everything the project writes (clips, CSV files, caches, checkpoints) goes
through these helpers, so that an interrupted run never leaves a
half-written file behind under its final name.  :func:`exclusive_lock`
keeps two processes from writing the same folder at once (a grid's output
folder, a run's model and scores).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from pathlib import Path
from typing import Iterator

TMP_PREFIX = ".tmp-asdlib-"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: The mode a plain ``open(path, "w")`` would give a new file (0666 less the process's umask).
_FILE_MODE = 0o666 & ~_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary file lives in the same folder (so the rename is atomic on
    POSIX) and is removed if the block raises.  ``suffix`` keeps an extension
    for writers that infer the format from the name (``soundfile``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, _FILE_MODE)  # mkstemp makes 0600: the final file gets the umask's mode
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def is_temporary(path: str | os.PathLike) -> bool:
    """True for a leftover temporary file of :func:`atomic_path`."""
    return Path(path).name.startswith(TMP_PREFIX)


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike, *, wait: bool = True) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` (made when missing) for the block.

    An advisory ``flock``: it binds the processes that take it, and the
    operating system releases it when its holder exits, however it exits.
    ``wait``: wait for another holder to let go; else raise
    :class:`BlockingIOError` at once.  The file keeps the holder's process id.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        f.truncate(0)
        f.write(str(os.getpid()))
        f.flush()
        yield
