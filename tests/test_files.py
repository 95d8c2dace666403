"""Output folders: a command cleans or overwrites only a folder it made; files get the umask's mode."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from asdlib.batch import run_grid
from asdlib.book import build_book
from asdlib.errors import FolderError
from asdlib.grid import make_grid
from asdlib.project import OWNER, fresh_folder, own_folder


def _listing(folder):
    """Every file under ``folder`` with its bytes: what a test compares before and after."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def users(tmp_path):
    """A folder of the user's: results of their own in the places the tools write."""
    folder = tmp_path / "mine"
    (folder / "submissions" / "mine").mkdir(parents=True)
    (folder / "submissions" / "mine" / "anomaly_score_fan_section_00_source_test.csv").write_text("a,1\n")
    (folder / "results.csv").write_text("my,table\n")
    (folder / "src").mkdir()
    (folder / "src" / "notes.md").write_text("# my notes\n")
    return folder


def test_a_new_or_empty_folder_becomes_the_commands_and_stays_so(tmp_path):
    new = own_folder(tmp_path / "a" / "b", "asdlib run")
    assert (new / OWNER).read_text() == "asdlib run\n"
    (new / "x.csv").write_text("1")
    assert own_folder(new, "asdlib run") == new  # its own, files and all
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (own_folder(empty, "asdlib book") / OWNER).is_file()
    with pytest.raises(FolderError, match="made by 'asdlib run', not by 'asdlib book'"):
        own_folder(new, "asdlib book")
    fresh_folder(new, "asdlib run")
    assert sorted(p.name for p in new.iterdir()) == [OWNER]


def test_a_folder_of_the_users_is_refused_and_left_as_it_was(users):
    before = _listing(users)
    with pytest.raises(FolderError, match=r"mine: holds files asdlib run did not write \(e.g. 'results.csv'\)"):
        own_folder(users, "asdlib run")
    with pytest.raises(FolderError, match="is a file, not a folder"):
        own_folder(users / "results.csv", "asdlib run")
    assert _listing(users) == before


def test_a_folder_made_before_folders_were_marked_is_recognised_by_its_files(tmp_path):
    old = tmp_path / "grid"
    old.mkdir()
    (old / "grid.json").write_text("{}")
    own_folder(old, "asdlib run", made_before=("grid.json",))
    assert (old / OWNER).read_text() == "asdlib run\n"


def test_the_grid_runner_refuses_an_output_folder_it_did_not_make(tiny_data, users):
    before = _listing(users)
    grid = make_grid({"data": tiny_data, "machines": ["fan"], "systems": ["AE baseline"], "settings": "tiny"})
    with pytest.raises(FolderError, match="did not write"):
        run_grid(grid, users, workers=1, progress=False, log=lambda s: None)
    assert _listing(users) == before


def test_the_book_builder_refuses_to_replace_a_src_folder_it_did_not_make(users):
    before = _listing(users)
    with pytest.raises(FolderError, match=r"src: holds files asdlib book did not write \(e.g. 'notes.md'\)"):
        build_book(users, settings="tiny", profile="tiny", progress=False)
    assert _listing(users) == before  # refused before the data or any chapter


def test_the_command_line_says_so_in_one_line(tiny_data, users):
    proc = subprocess.run([sys.executable, "-m", "asdlib.cli", "run", "--out", str(users), "--data", str(tiny_data),
                           "--machines", "fan", "--systems", "ae-baseline", "--settings", "tiny", "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "did not write" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_get_the_mode_the_umask_gives(tmp_path, umask, mode):
    code = ("import os, sys; os.umask(int(sys.argv[2], 8)); from asdlib._atomic import write_text_atomic; "
            "write_text_atomic(sys.argv[1], 'x')")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "f.txt"), oct(umask)[2:]], check=True, timeout=60)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == mode


def test_a_lock_is_held_for_its_block_only_and_a_second_taker_is_refused_or_waits(tmp_path):
    import threading

    from asdlib._atomic import exclusive_lock

    path = tmp_path / "a" / "lock"
    with exclusive_lock(path):
        assert path.read_text() == str(os.getpid())
        with pytest.raises(BlockingIOError):
            with exclusive_lock(path, wait=False):
                pass
        taken = threading.Event()

        def take():
            with exclusive_lock(path):
                taken.set()

        waiter = threading.Thread(target=take)
        waiter.start()
        assert not taken.wait(timeout=0.5)  # waits while the lock is held
    assert taken.wait(timeout=10)
    waiter.join()


def test_a_second_grid_on_the_same_folder_is_refused_and_an_error_inside_is_not_mistaken_for_it(tmp_path):
    from asdlib.batch import _lock
    from asdlib.errors import GridError

    with _lock(tmp_path):
        with pytest.raises(GridError, match="another `asdlib run` is using this folder"):
            with _lock(tmp_path):
                pass
    with pytest.raises(BlockingIOError, match="mine"):
        with _lock(tmp_path):
            raise BlockingIOError("mine")
