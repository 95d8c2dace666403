import shutil
from pathlib import Path

import pytest

from asdlib.layout import (Clip, LayoutError, check_sections, clip_name, group_by_cell,
                           list_clips, machine_types, parse_clip_name, read_ground_truth,
                           resolve_data_root)

NAMES = [
    # (folder, file name, section, domain, split, label, index, attributes)
    ("train", "section_00_source_train_normal_0000_strength_1_ambient.wav",
     "00", "source", "train", "normal", 0, "strength_1_ambient"),
    ("train", "section_02_target_train_normal_0002_A1Spd28VMic1.wav",
     "02", "target", "train", "normal", 2, "A1Spd28VMic1"),
    ("train", "section_01_source_train_normal_0999_vel_8_loc_B.wav",
     "01", "source", "train", "normal", 999, "vel_8_loc_B"),
    ("train", "section_00_source_train_normal_0007_pat_00.wav",
     "00", "source", "train", "normal", 7, "pat_00"),
    ("train", "section_00_source_train_normal_0007.wav", "00", "source", "train", "normal", 7, ""),
    ("source_test", "section_00_source_test_normal_0099.wav",
     "00", "source", "test", "normal", 99, ""),
    ("target_test", "section_01_target_test_anomaly_0000.wav",
     "01", "target", "test", "anomaly", 0, ""),
    ("target_test", "section_04_target_test_0199.wav", "04", "target", "test", "unknown", 199, ""),
    ("source_test", "section_05_source_test_anomaly_0003_car_A1_spd_28V.wav",
     "05", "source", "test", "anomaly", 3, "car_A1_spd_28V"),
    ("test", "section_03_source_test_0000.wav", "03", "source", "test", "unknown", 0, ""),
]


@pytest.mark.parametrize("folder,name,section,domain,split,label,index,attrs", NAMES)
def test_parse_every_naming_form(folder, name, section, domain, split, label, index, attrs):
    clip = parse_clip_name(Path("/data/dev_data/ToyCar") / folder / name)
    assert clip == Clip(path=Path("/data/dev_data/ToyCar") / folder / name, machine="ToyCar",
                        section=section, domain=domain, split=split, label=label, index=index,
                        attributes=attrs)
    assert clip.y_true == {"normal": 0, "anomaly": 1, "unknown": None}[label]
    # composing the name from the record gives the same file name back
    assert clip_name(section=section, domain=domain, split=split, label=label, index=index,
                     attributes=attrs) == name


@pytest.mark.parametrize("name", [
    "section_0_source_train_normal_0000.wav",          # one-digit section
    "section_00_middle_train_normal_0000.wav",         # unknown domain
    "section_00_source_train_normal_000.wav",          # three-digit index
    "section_00_source_valid_normal_0000.wav",         # unknown split
    "section_00_source_train_normal_0000.flac",        # not a WAV
    "id_00_normal_00000000.wav",                       # DCASE 2020 naming
])
def test_bad_names_are_errors_naming_the_file(name):
    with pytest.raises(LayoutError, match=name.replace(".", r"\.")):
        parse_clip_name(Path("/d/fan/train") / name)


def test_training_anomaly_and_wrong_folder_are_errors():
    with pytest.raises(LayoutError, match="must be labelled 'normal'"):
        parse_clip_name(Path("/d/fan/train/section_00_source_train_anomaly_0000.wav"))
    with pytest.raises(LayoutError, match="target clip in the folder source_test"):
        parse_clip_name(Path("/d/fan/source_test/section_00_target_test_normal_0000.wav"))
    with pytest.raises(LayoutError, match="test clip in the folder train"):
        parse_clip_name(Path("/d/fan/train/section_00_source_test_normal_0000.wav"))


def _touch(root: Path, rel: str) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"")
    return p


def test_listing_and_discovery(tmp_path):
    _touch(tmp_path, "fan/train/section_00_source_train_normal_0000_a.wav")
    _touch(tmp_path, "fan/source_test/section_00_source_test_normal_0000.wav")
    _touch(tmp_path, "fan/target_test/section_00_target_test_anomaly_0000.wav")
    _touch(tmp_path, "ToyCar/train/section_00_source_train_normal_0000.wav")
    _touch(tmp_path, "ToyCar/source_test/section_00_source_test_normal_0000.wav")
    _touch(tmp_path, "fan/train/README.txt")   # not a clip
    (tmp_path / "notes").mkdir()                # not a machine type
    assert machine_types(tmp_path) == ["fan", "ToyCar"]
    clips = list_clips(tmp_path, "fan")
    assert [c.split for c in clips] == ["train", "test", "test"]
    assert [c.domain for c in list_clips(tmp_path, "fan", split="test")] == ["source", "target"]
    assert len(group_by_cell(clips)) == 2


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(LayoutError, match="not found"):
        machine_types(tmp_path / "nope")
    with pytest.raises(LayoutError, match="no machine-type folders"):
        machine_types(tmp_path)
    with pytest.raises(LayoutError, match="machine type 'fan' folder not found"):
        list_clips(tmp_path, "fan")
    (tmp_path / "fan" / "train").mkdir(parents=True)
    with pytest.raises(LayoutError, match=r"fan/train: folder holds no \.wav clips"):
        list_clips(tmp_path, "fan", split="train")
    with pytest.raises(LayoutError, match="no test folder"):
        list_clips(tmp_path, "fan", split="test")


def test_a_bad_file_among_good_ones_is_named(tmp_path):
    _touch(tmp_path, "fan/train/section_00_source_train_normal_0000.wav")
    _touch(tmp_path, "fan/train/section_00_source_train_normal_0001 copy.wav")
    with pytest.raises(LayoutError, match="0001 copy.wav"):
        list_clips(tmp_path, "fan", split="train")


def test_test_section_without_training_clips(tmp_path):
    _touch(tmp_path, "fan/train/section_00_source_train_normal_0000.wav")
    _touch(tmp_path, "fan/source_test/section_01_source_test_normal_0000.wav")
    train, test = list_clips(tmp_path, "fan", split="train"), list_clips(tmp_path, "fan", split="test")
    with pytest.raises(LayoutError, match="section 01 of fan has test clips but no training clips"):
        check_sections(train, test)


def test_ground_truth(tmp_path):
    gt = tmp_path / "gt"
    gt.mkdir()
    (gt / "ground_truth_fan_section_03_source_test.csv").write_text(
        "section_03_source_test_0000.wav,1\nsection_03_source_test_0001.wav,0\n")
    labels = read_ground_truth(gt)
    assert labels == {("fan", "03", "source"): {"section_03_source_test_0000.wav": 1,
                                                "section_03_source_test_0001.wav": 0}}
    (gt / "ground_truth_fan_section_03_target_test.csv").write_text("x.wav,2\n")
    with pytest.raises(LayoutError, match="target_test.csv, line 1"):
        read_ground_truth(gt)
    with pytest.raises(LayoutError, match="no ground-truth files"):
        read_ground_truth(tmp_path / "gt", machine="pump")


def test_resolve_data_root(tmp_path):
    (tmp_path / "dev_data").mkdir()
    assert resolve_data_root(tmp_path) == {"dev": tmp_path / "dev_data"}
    assert resolve_data_root(tmp_path / "dev_data") == {"dev": tmp_path / "dev_data"}
    (tmp_path / "other").mkdir()
    with pytest.raises(LayoutError, match="expected a folder holding dev_data"):
        resolve_data_root(tmp_path / "other")


def test_evaluation_clips_take_their_labels_from_the_ground_truth_or_the_gap_is_named(tiny_data, tmp_path):
    from asdlib.layout import label_from_ground_truth

    clips = list_clips(tiny_data / "eval_data", "fan", split="test")
    assert {c.label for c in clips} == {"unknown"}
    gt = tiny_data / "ground_truth_data"
    labelled = label_from_ground_truth(clips, gt)
    assert {c.label for c in labelled} == {"normal", "anomaly"} and [c.path for c in labelled] == [c.path for c in clips]
    partial = tmp_path / "gt"
    shutil.copytree(gt, partial)
    name = "ground_truth_fan_section_04_target_test.csv"
    rows = (partial / name).read_text().splitlines()
    (partial / name).write_text("\n".join(rows[1:]) + "\n")
    with pytest.raises(LayoutError, match=rf"{name}: no row for {rows[0].split(',')[0]}"):
        label_from_ground_truth(clips, partial)
    (partial / name).unlink()
    with pytest.raises(LayoutError, match=f"no {name} for .*section_04_target_test"):
        label_from_ground_truth(clips, partial)
