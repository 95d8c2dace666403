"""The DCASE 2021 Task 2 data layout: file names, folders and ground truth.

A data set root holds ``dev_data/`` and, optionally, ``eval_data/``; each
holds one folder per machine type with ``train/``, ``source_test/`` and
``target_test/`` inside (``test/`` is accepted too).  File names::

    section_<SS>_<source|target>_train_normal_<NNNN>[_<attributes>].wav
    section_<SS>_<source|target>_test_<normal|anomaly>_<NNNN>[_<attributes>].wav
    section_<SS>_<source|target>_test_<NNNN>[_<attributes>].wav   (unlabelled)

The attribute part is free text (``strength_1_ambient``, ``A1Spd28VMic1``,
``vel_8_loc_B`` ...) and may be absent; nothing here depends on its form.
Evaluation labels come from ground-truth files
``ground_truth_<machine>_section_<SS>_<domain>_test.csv`` with rows
``<file name>,<0|1>``.
"""
from __future__ import annotations

import csv
import re
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Sequence

from .errors import LayoutError

MACHINE_TYPES = ("fan", "gearbox", "pump", "slider", "valve", "ToyCar", "ToyTrain")
DOMAINS = ("source", "target")
SPLITS = ("train", "test")
LABELS = ("normal", "anomaly", "unknown")
SAMPLE_RATE = 16_000
CLIP_SECONDS = 10.0

TEST_FOLDERS = {"source_test": "source", "target_test": "target", "test": None}
SPLIT_FOLDERS = ("train", *TEST_FOLDERS)

_NAME_RE = re.compile(
    r"^section_(?P<section>\d{2})_(?P<domain>source|target)_(?P<split>train|test)"
    r"(?:_(?P<label>normal|anomaly))?_(?P<index>\d{4})(?:_(?P<attributes>.+))?\.wav$"
)
_GT_RE = re.compile(
    r"^ground_truth_(?P<machine>.+)_section_(?P<section>\d{2})_(?P<domain>source|target)_test\.csv$"
)
NAME_FORMS = (
    "section_<SS>_<source|target>_train_normal_<NNNN>[_<attributes>].wav, "
    "section_<SS>_<source|target>_test_<normal|anomaly>_<NNNN>[_<attributes>].wav or "
    "section_<SS>_<source|target>_test_<NNNN>[_<attributes>].wav"
)


@dataclass(frozen=True, order=True)
class Clip:
    """One audio clip of the DCASE layout, as its path and file name describe it.

    ``section`` is the two-digit string (``"00"``); ``label`` is ``"normal"``,
    ``"anomaly"`` or ``"unknown"`` (unlabelled evaluation clips);
    ``attributes`` is the free text after the index, ``""`` when absent.
    """

    path: Path
    machine: str
    section: str
    domain: str
    split: str
    label: str
    index: int
    attributes: str = ""

    @property
    def name(self) -> str:
        """The file name, as the submission files and ground truth name it."""
        return self.path.name

    @property
    def y_true(self) -> int | None:
        """1 for an anomaly, 0 for a normal clip, None when unlabelled."""
        return {"normal": 0, "anomaly": 1}.get(self.label)

    @property
    def cell(self) -> tuple[str, str, str]:
        """The (machine, section, domain) cell this clip is scored in."""
        return (self.machine, self.section, self.domain)


def clip_name(*, section: str | int, domain: str, split: str, label: str, index: int,
              attributes: str = "") -> str:
    """Compose a file name of the layout (the inverse of :func:`parse_clip_name`)."""
    section = f"{int(section):02d}"
    if domain not in DOMAINS or split not in SPLITS or label not in LABELS:
        raise LayoutError(f"no file name for domain={domain!r} split={split!r} label={label!r}")
    parts = [f"section_{section}", domain, split]
    if label != "unknown":
        parts.append(label)
    parts.append(f"{index:04d}")
    if attributes:
        parts.append(attributes)
    return "_".join(parts) + ".wav"


def parse_clip_name(path: str | Path, *, machine: str | None = None) -> Clip:
    """Parse a clip's path into a :class:`Clip`.

    ``machine`` defaults to the name of the folder two levels up
    (``<machine>/<train|source_test|target_test>/<file>``).  Raises
    :class:`LayoutError` naming the file when the name does not follow the
    layout, when a training clip is not labelled normal, or when a test clip
    sits in the folder of the other domain.
    """
    path = Path(path)
    m = _NAME_RE.match(path.name)
    if m is None:
        raise LayoutError(f"{path}: file name does not follow the DCASE layout; expected {NAME_FORMS}")
    split, label = m["split"], m["label"] or "unknown"
    if split == "train" and label != "normal":
        raise LayoutError(f"{path}: a training clip must be labelled 'normal' "
                          f"(section_<SS>_<domain>_train_normal_<NNNN>...), got {label!r}")
    folder = path.parent.name
    if folder in TEST_FOLDERS and TEST_FOLDERS[folder] not in (None, m["domain"]):
        raise LayoutError(f"{path}: a {m['domain']} clip in the folder {folder}/")
    if folder in SPLIT_FOLDERS and (folder == "train") != (split == "train"):
        raise LayoutError(f"{path}: a {split} clip in the folder {folder}/")
    return Clip(
        path=path,
        machine=machine if machine is not None else path.parent.parent.name,
        section=m["section"],
        domain=m["domain"],
        split=split,
        label=label,
        index=int(m["index"]),
        attributes=m["attributes"] or "",
    )


def _require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise LayoutError(f"{path}: {what} folder not found")
    return path


def machine_types(data_dir: str | Path) -> list[str]:
    """The machine types under ``data_dir`` (a ``dev_data`` or ``eval_data`` folder).

    A machine type is a sub-folder holding a ``train/`` or test folder.
    Known types come first in the DCASE order, then others alphabetically.
    """
    data_dir = _require_dir(Path(data_dir), "data")
    found = [p.name for p in data_dir.iterdir()
             if p.is_dir() and any((p / s).is_dir() for s in SPLIT_FOLDERS)]
    if not found:
        raise LayoutError(f"{data_dir}: no machine-type folders (each with train/, "
                          f"source_test/ or target_test/ inside)")
    order = {m: i for i, m in enumerate(MACHINE_TYPES)}
    return sorted(found, key=lambda m: (order.get(m, len(order)), m))


def list_clips(data_dir: str | Path, machine: str, *, split: str | None = None) -> list[Clip]:
    """All clips of one machine type, sorted by split folder and file name.

    ``split`` is ``"train"``, ``"test"`` or None for both.  Only ``*.wav``
    files are clips; any ``.wav`` whose name does not follow the layout is an
    error naming it (nothing is skipped silently), and so is a missing or
    empty folder.
    """
    if split not in (None, *SPLITS):
        raise ValueError(f"split must be 'train', 'test' or None, got {split!r}")
    mdir = _require_dir(Path(data_dir) / machine, f"machine type {machine!r}")
    folders = ["train"] if split in (None, "train") else []
    if split in (None, "test"):
        tests = [f for f in TEST_FOLDERS if (mdir / f).is_dir()]
        if not tests:
            raise LayoutError(f"{mdir}: no test folder (source_test/, target_test/ or test/)")
        folders += tests
    clips: list[Clip] = []
    bad: list[str] = []
    for folder in folders:
        fdir = _require_dir(mdir / folder, f"{folder}")
        wavs = sorted(p for p in fdir.iterdir() if p.suffix.lower() == ".wav"
                      and not p.name.startswith("."))
        if not wavs:
            raise LayoutError(f"{fdir}: folder holds no .wav clips")
        for p in wavs:
            try:
                clips.append(parse_clip_name(p, machine=machine))
            except LayoutError as err:
                bad.append(str(err))
    if bad:
        more = f"\n  ... and {len(bad) - 10} more" if len(bad) > 10 else ""
        raise LayoutError(f"{len(bad)} file(s) under {mdir} do not follow the layout:\n  "
                          + "\n  ".join(bad[:10]) + more)
    return clips


def sections(clips: Iterable[Clip]) -> list[str]:
    """The sorted section IDs present in ``clips``."""
    return sorted({c.section for c in clips})


def check_sections(train: Iterable[Clip], test: Iterable[Clip]) -> None:
    """Raise if a test clip's section has no training clips (the model never saw it)."""
    trained = {(c.machine, c.section) for c in train}
    missing = sorted({(c.machine, c.section, str(c.path.parent)) for c in test
                      if (c.machine, c.section) not in trained})
    if missing:
        lines = [f"{folder}: section {s} of {m} has test clips but no training clips"
                 for m, s, folder in missing]
        raise LayoutError("\n".join(lines))


def group_by_cell(clips: Iterable[Clip]) -> dict[tuple[str, str, str], list[Clip]]:
    """Group clips by their (machine, section, domain) scoring cell, sorted by key."""
    groups: dict[tuple[str, str, str], list[Clip]] = defaultdict(list)
    for c in clips:
        groups[c.cell].append(c)
    return dict(sorted(groups.items()))


#: Where the evaluation ground truth sits beside ``dev_data/`` and ``eval_data/`` (``asdlib synth --eval``
#: writes it there; with the real data, put the official ``ground_truth_*.csv`` files there).
GROUND_TRUTH_DIR = "ground_truth_data"


def ground_truth_name(machine: str, section: str, domain: str) -> str:
    """File name of the evaluation ground truth for one cell."""
    return f"ground_truth_{machine}_section_{section}_{domain}_test.csv"


def read_ground_truth(gt_dir: str | Path, *, machine: str | None = None
                      ) -> dict[tuple[str, str, str], dict[str, int]]:
    """Read the evaluation ground-truth CSV files under ``gt_dir`` (searched recursively).

    Returns ``{(machine, section, domain): {file name: 0 or 1}}``.  A row that
    is not ``<file name>,<0|1>`` is an error naming the file and the line.
    """
    gt_dir = _require_dir(Path(gt_dir), "ground-truth")
    out: dict[tuple[str, str, str], dict[str, int]] = {}
    for path in sorted(gt_dir.rglob("ground_truth_*.csv")):
        m = _GT_RE.match(path.name)
        if m is None:
            raise LayoutError(f"{path}: expected a name ground_truth_<machine>_section_<SS>_"
                              f"<source|target>_test.csv")
        if machine is not None and m["machine"] != machine:
            continue
        labels: dict[str, int] = {}
        with open(path, newline="") as f:
            for lineno, row in enumerate(csv.reader(f), start=1):
                if not row:
                    continue
                if len(row) != 2 or row[1].strip() not in ("0", "1") or not row[0].endswith(".wav"):
                    raise LayoutError(f"{path}, line {lineno}: expected '<file name>.wav,<0|1>', "
                                      f"got {','.join(row)!r}")
                labels[row[0].strip()] = int(row[1])
        if not labels:
            raise LayoutError(f"{path}: ground-truth file is empty")
        out[(m["machine"], m["section"], m["domain"])] = labels
    if not out:
        what = f" for {machine}" if machine else ""
        raise LayoutError(f"{gt_dir}: no ground-truth files{what} "
                          f"(ground_truth_<machine>_section_<SS>_<domain>_test.csv)")
    return out


def label_from_ground_truth(clips: Sequence[Clip], gt_dir: str | Path) -> list[Clip]:
    """``clips`` with the labels of the ground-truth files under ``gt_dir`` (:func:`read_ground_truth`)
    given to the unlabelled ones (evaluation test clips); labelled clips are returned as they are.

    A clip its cell's file does not list, or a cell without a file, is a
    :class:`LayoutError` naming the file (or the cell) and the clip.
    """
    unlabelled = [c for c in clips if c.label == "unknown"]
    if not unlabelled:
        return list(clips)
    truth = {}
    for machine in sorted({c.machine for c in unlabelled}):
        truth.update(read_ground_truth(gt_dir, machine=machine))
    out = []
    for clip in clips:
        if clip.label == "unknown":
            labels = truth.get(clip.cell)
            if labels is None:
                raise LayoutError(f"{gt_dir}: no {ground_truth_name(*clip.cell)} for {clip.path}")
            if clip.name not in labels:
                raise LayoutError(f"{gt_dir}/{ground_truth_name(*clip.cell)}: no row for {clip.name}")
            clip = replace(clip, label="anomaly" if labels[clip.name] else "normal")
        out.append(clip)
    return out


def resolve_data_root(root: str | Path) -> dict[str, Path]:
    """Find the ``dev_data`` and ``eval_data`` folders of a data set root.

    ``root`` may be the folder holding them, or a ``dev_data`` or
    ``eval_data`` folder itself.  Returns the folders found, keyed
    ``"dev"`` and ``"eval"``; raises when there is neither.
    """
    root = _require_dir(Path(root), "data set")
    found = {}
    for key, name in (("dev", "dev_data"), ("eval", "eval_data")):
        if root.name == name:
            found[key] = root
        elif (root / name).is_dir():
            found[key] = root / name
    if not found:
        raise LayoutError(f"{root}: expected a folder holding dev_data/ (and optionally "
                          f"eval_data/), or a dev_data/ or eval_data/ folder itself")
    return found
