"""The numbers the poster reports, as reported: never computed, never used as targets.

Source: Cai, Dinkel, Yan, Wang, Zhang, Wu and Wang, *A Contrastive
Semi-Supervised Learning Framework for Anomaly Sound Detection*, poster for
the DCASE 2021 Challenge Task 2 (the project's seed file
``shared/seeds/000_2eb928bb268a4736.txt``).  The book prints them beside
what :mod:`asdlib` measures, labelled as the paper's.
"""
from __future__ import annotations

import pandas as pd

SOURCE = ("Cai et al., A Contrastive Semi-Supervised Learning Framework for Anomaly Sound "
          "Detection, DCASE 2021 Task 2 poster")

#: Column order of the poster's tables (its spelling of the machine types mapped to the data's).
COLUMNS = ("fan", "gearbox", "slider", "ToyTrain", "ToyCar", "pump", "valve")


def _table(rows: dict[str, tuple], columns: list[str]) -> pd.DataFrame:
    table = pd.DataFrame.from_dict(rows, orient="index", columns=columns)
    table.index.name = "Model"
    return table


def ablation_table() -> pd.DataFrame:
    """The poster's ablation on the development set: score (%) per machine type and the official score."""
    rows = {
        "MBv2": (60.30, 57.43, 59.43, 51.10, 53.60, 56.17, 55.19, 56.01),
        "+ CL": (60.61, 58.87, 60.70, 50.92, 52.51, 56.90, 54.38, 56.18),
        "+ MF": (64.08, 65.38, 59.83, 49.69, 55.38, 59.50, 53.74, 57.75),
        "+ CL, MF": (64.45, 67.16, 58.66, 51.89, 56.15, 57.27, 53.46, 57.99),
    }
    return _table(rows, [*COLUMNS, "Score"])


def challenge_table() -> pd.DataFrame:
    """The poster's challenge results on the evaluation set (%): the baselines and the team's best."""
    rows = {
        "AE Baseline": (56.375, 60.68, 65.49, 57.22, 68.51, 65.93, 58.30, 51.87),
        "MBv2 Baseline": (54.770, 64.96, 51.14, 72.92, 42.91, 42.73, 67.97, 53.13),
        "1st": (66.798, 61.01, 63.07, 83.18, 69.15, 75.27, 86.76, 65.36),
        "Ours best": (60.966, 90.68, 58.00, 77.34, 47.49, 53.81, 77.82, 53.53),
    }
    return _table(rows, ["Score", *COLUMNS])
