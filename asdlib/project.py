"""Where things are: the repository, the data folders a run reads, the log-mel cache, and what a data set is.

Used by the pipeline, the book builder, the grid runner and the chapters
alike, so that none of them has to import another to find its folders.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Sequence

from ._atomic import write_text_atomic
from .errors import FolderError
from .layout import GROUND_TRUTH_DIR, LayoutError, list_clips, machine_types, resolve_data_root, sections

#: The repository (the folder holding ``notebooks/`` and ``_toc.yml``).
ROOT = Path(__file__).resolve().parents[1]
#: The build folder: the chapters' data and runs when they are not given.  ``$ASDLIB_BUILD`` when
#: set (a JupyterLab session or a test that must not write into the repository), else the
#: repository's ``_build``.
BUILD = Path(os.environ["ASDLIB_BUILD"]).expanduser().resolve() if os.environ.get("ASDLIB_BUILD") \
    else ROOT / "_build"


#: Where a run writes its submission files: ``<run folder>/<dataset>/submission/``.
SUBMISSION_DIR = "submission"


def slug(system: str) -> str:
    """A folder name for a system: ``"+ CL, MF"`` -> ``"cl-mf"``, ``"AE baseline"`` -> ``"ae-baseline"``."""
    out = re.sub(r"[^a-z0-9]+", "-", system.lower()).strip("-")
    if not out:
        raise ValueError(f"system name {system!r} has no letters or digits to name a folder by")
    return out


def run_folder(out_dir: str | Path, system: str, seed: int) -> Path:
    """Where one system's runs with one seed go: ``<out_dir>/<system slug>/seed-<n>/``."""
    return Path(out_dir) / slug(system) / f"seed-{seed}"


def default_cache_dir() -> Path:
    """``$ASDLIB_CACHE``, or ``~/.cache/asdlib``: where log-mel caches go unless told otherwise."""
    return Path(os.environ.get("ASDLIB_CACHE") or Path.home() / ".cache" / "asdlib")


def data_folder(data_root: str | Path, dataset: str) -> Path:
    """The ``dev_data`` (dataset "dev") or ``eval_data`` ("eval") folder under ``data_root``."""
    if dataset not in ("dev", "eval"):
        raise ValueError(f"dataset must be 'dev' or 'eval', got {dataset!r}")
    roots = resolve_data_root(data_root)
    if dataset not in roots:
        raise LayoutError(f"{data_root}: no {dataset}_data/ folder")
    return roots[dataset]


def default_ground_truth(data_root: str | Path) -> Path | None:
    """``<data_root>/ground_truth_data`` when it exists (beside ``eval_data/``), else None."""
    root = Path(data_root)
    for base in (root, root.parent):
        if (base / GROUND_TRUTH_DIR).is_dir() and (base / "eval_data").is_dir():
            return (base / GROUND_TRUTH_DIR).resolve()
    return None


def synth_marker(root: str | Path) -> dict | None:
    """What ``asdlib synth`` recorded about a data folder it made (version, seed), None for other data."""
    from .synth.generate import MARKER

    root = Path(root)
    for base in (root, root.parent):
        if (base / MARKER).is_file():
            return json.loads((base / MARKER).read_text())
    return None


def data_identity(data_root: str | Path, machine: str, dataset: str = "dev") -> dict:
    """What names one machine type's development (or ``dataset``'s) data: path, clip count, a
    fingerprint, synthetic or not.

    The fingerprint is a SHA-256 over every clip's relative path and size;
    ``synthetic`` is what ``asdlib synth`` recorded (generator version and
    seed), None for other data.
    """
    import hashlib

    folder = data_folder(data_root, dataset)
    clips = list_clips(folder, machine)
    digest = hashlib.sha256()
    for c in sorted(clips, key=lambda c: c.path):
        digest.update(f"{c.path.relative_to(folder)}\t{c.path.stat().st_size}\n".encode())
    return {"path": str(folder), "machine": machine, "clips": len(clips),
            "fingerprint": "sha256:" + digest.hexdigest(), "synthetic": synth_marker(folder)}


def same_data(root: str | Path, identity: dict) -> bool:
    """Whether ``root`` holds the development data a grid recorded (``grid.json``'s ``identity``):
    the same clips of every machine type, made by the same generator version and seed if synthetic."""
    if not identity:  # a grid of the evaluation set alone names no development data
        return False
    try:
        return all(data_identity(root, m)[k] == v[k] for m, v in identity.items()
                   for k in ("clips", "fingerprint", "synthetic"))
    except (LayoutError, OSError):
        return False


def describe_data(root: str | Path) -> str:
    """One line that names a data folder plainly: synthetic (generator version, seed) or not, and its size."""
    root = Path(root)
    counts = []
    for name, folder in resolve_data_root(root).items():
        n = sum(len(list_clips(folder, m)) for m in machine_types(folder))
        counts.append(f"{name}_data: {len(machine_types(folder))} machine types, {n:,} clips")
    meta = synth_marker(root)
    if meta is not None:
        kind = (f"synthetic machine sounds made by `asdlib synth` (data version {meta.get('version')}, "
                f"seed {meta.get('seed')}), not the DCASE recordings")
    else:
        kind = "not made by `asdlib synth`: the DCASE 2021 Task 2 data (or another set in its layout)"
    return f"`{root}`: {kind}; " + "; ".join(counts)


def check_synth_version(root: str | Path) -> None:
    """Refuse synthetic data written by another version of the generator, saying how to rebuild it."""
    from .synth.generate import SYNTH_VERSION

    meta = synth_marker(root)
    if meta is not None and meta.get("version") != SYNTH_VERSION:
        raise LayoutError(f"{root}: synthetic data version {meta.get('version')}, this asdlib makes and reads "
                          f"version {SYNTH_VERSION}; remove the folder and write it again (make clean, or "
                          f"asdlib synth --out {root} ...)")


def training_sections(data_dir: str | Path, machine: str) -> list[str]:
    """The sections of one machine type's training clips (``data_dir``: a dev_data or eval_data folder)."""
    return sections(list_clips(data_dir, machine, split="train"))


def check_classifiable(data_dir: str | Path, machines: Sequence[str]) -> None:
    """Refuse machine types whose training clips hold fewer than two sections, naming them.

    MobileNetV2 and the framework classify a clip's section; with one section
    there is nothing to tell apart.  Raises :class:`LayoutError` before any work.
    """
    single = {m: s for m in machines if len(s := training_sections(data_dir, m)) < 2}
    if single:
        what = "; ".join(f"{m}: section {', '.join(s) or 'none'}" for m, s in single.items())
        raise LayoutError(f"{data_dir}: a section classifier (MobileNetV2, the framework) needs two or more "
                          f"sections in a machine type's training clips, and these have fewer ({what})")


def pick_machine(data_dir: str | Path, machine: str, *, classifier: bool = False) -> str:
    """``machine`` when ``data_dir`` (a dev_data or eval_data folder) has it, else its first machine type (said).

    ``classifier``: the chapter trains a section classifier, so the machine type
    must have two or more training sections (:func:`check_classifiable`); in
    place of an absent one, the first machine type that has them.
    """
    found = machine_types(data_dir)
    if machine in found:
        if classifier:
            check_classifiable(data_dir, [machine])
        return machine
    candidates = found
    if classifier:
        candidates = [m for m in found if len(training_sections(data_dir, m)) >= 2]
        if not candidates:
            check_classifiable(data_dir, found)
    print(f"{data_dir} has no {machine!r} folder: this chapter looks at {candidates[0]!r} instead "
          f"(machine types present: {', '.join(found)})")
    return candidates[0]


def chapter_data(data: str | Path, *, synth_profile: str = "book", seed: int = 0, with_eval: bool = False) -> Path:
    """The data folder a chapter reads: ``data`` if it holds ``dev_data/``, else synthesise it there.

    ``data=""``: ``BUILD/data``, the repository's ``_build/data`` unless ``$ASDLIB_BUILD``
    says otherwise (whatever the working directory).

    ``synth_profile=""`` never synthesises: a folder without ``dev_data/`` is then an error.  A
    synthetic folder written by another version of the generator is refused.  ``with_eval``: the
    synthetic data get the evaluation layout too (``eval_data/`` and its ground truth).

    A synthetic folder whose synthesis did not finish (interrupted, or still running in another
    process: this waits for it), or that lacks the ``eval_data/`` asked for, is completed with the
    profile and machine types it was made with (:func:`asdlib.synth.generate.synth_state`), never
    read as it is.
    """
    from .synth.generate import synth_state

    data = Path(data).expanduser().resolve() if str(data) else BUILD / "data"
    if (data / "dev_data").is_dir() or data.name == "dev_data":
        root = data.parent if data.name == "dev_data" else data
        check_synth_version(root)
        state, meta = synth_state(root), synth_marker(root)
        no_eval = with_eval and not (root / "eval_data").is_dir()
        if state is None:  # real data, or synthetic data made before the record was kept: read as it is
            if no_eval and meta:
                raise LayoutError(f"{root}: synthetic data made before asdlib recorded its profile, and no "
                                  f"eval_data/; add it with asdlib synth --out {root} --profile PROFILE --eval "
                                  f"(its profile: book for the book's data)")
            return data
        lacking = ("its synthesis did not finish (interrupted, or still running elsewhere)" if not state["complete"]
                   else "it has no eval_data/" if no_eval else None)
        if lacking is None:
            return data
        if not synth_profile:
            raise LayoutError(f"{root}: synthetic data, but {lacking}; synth_profile is empty, so it is not "
                              f"completed here (asdlib synth --out {root} ... completes it)")
        from .synth import synthesize

        made_with = (meta or {}).get("seed", seed)
        print(f"{root}: {lacking}: completing it ({state['profile'].name!r} profile, seed {made_with})")
        synthesize(root, profile=state["profile"], seed=made_with, machines=state["machines"],
                   with_eval=with_eval or state["with_eval"])
        return data
    if not synth_profile:
        raise LayoutError(f"{data}: no dev_data/ folder (and synth_profile is empty, so none is made)")
    from .synth import synthesize

    print(f"{data} holds no dev_data/: synthesising the {synth_profile!r} profile there (seed {seed})")
    synthesize(data, profile=synth_profile, seed=seed, with_eval=with_eval)
    return data


def chapter_runs(runs: str | Path) -> Path:
    """The folder a chapter trains into: ``runs``, or ``""`` for ``BUILD/runs``."""
    return Path(runs).expanduser().resolve() if str(runs) else BUILD / "runs"


#: The file that marks a folder as made by one of the package's commands (its name inside).
OWNER = ".asdlib-owner"


def own_folder(folder: str | Path, command: str, *, made_before: Sequence[str] = ()) -> Path:
    """Make ``folder`` the output folder of ``command``, or check that it is; return it.

    A folder that does not exist is created and marked (:data:`OWNER` names the
    command); an empty folder is marked; a folder marked by the same command is
    its own.  Any other folder is refused with a :class:`FolderError` that names
    a file in the way, and nothing in it is touched: a command cleans and
    overwrites only inside folders it made.  ``made_before``: files whose
    presence shows that the command made the folder before it marked its
    folders (e.g. an ``asdlib run`` folder's ``grid.json``); such a folder is
    marked and accepted.
    """
    folder = Path(folder)
    marker = folder / OWNER
    if folder.exists() and not folder.is_dir():
        raise FolderError(f"{folder}: is a file, not a folder; give {command} a folder")
    if marker.is_file():
        owner = marker.read_text().strip()
        if owner != command:
            raise FolderError(f"{folder}: made by {owner!r}, not by {command!r}; use another folder")
        return folder
    if folder.is_dir():
        inside = sorted(p.name for p in folder.iterdir())
        if inside and not any((folder / name).exists() for name in made_before):
            raise FolderError(f"{folder}: holds files {command} did not write (e.g. {inside[0]!r}); "
                              f"it cleans and overwrites only a folder it made: give a new or empty folder")
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(marker, command + "\n")
    return folder


def fresh_folder(folder: str | Path, command: str, *, made_before: Sequence[str] = ()) -> Path:
    """Empty ``folder`` for ``command`` to write anew, if it is that command's (:func:`own_folder`)."""
    import shutil

    folder = own_folder(folder, command, made_before=made_before)
    shutil.rmtree(folder)
    return own_folder(folder, command)


#: Digests already computed in this process, by what identifies one state of a file: path, inode,
#: size, modification and change times.  The change time cannot be set back by a user (``touch``
#: sets the other two), so a rewritten file is always read again.
_DIGESTS: dict[tuple, str] = {}


def file_digest(path: str | Path) -> str:
    """BLAKE2b (128 bits, hex) of a file's bytes, read once per state of the file in a process.

    Training a system hashes its training clips for the checkpoint after the
    feature cache has hashed them for its key; the second reading is free.
    """
    import hashlib

    st = os.stat(path)
    key = (str(Path(path).resolve()), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if key not in _DIGESTS:
        digest = hashlib.blake2b(digest_size=16)
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]


def clips_fingerprint(clips) -> str:
    """A fingerprint of clips by their names and contents (:func:`file_digest` of each file).

    What a checkpoint records of the clips it was trained on: two synthetic data
    sets made with other seeds have the same names and sizes, not the same bytes.
    """
    import hashlib

    digest = hashlib.blake2b(digest_size=16)
    for clip in sorted(clips, key=lambda c: c.path.name):
        digest.update(f"{clip.path.name}\0{file_digest(clip.path)}\n".encode())
    return "blake2b:" + digest.hexdigest()
