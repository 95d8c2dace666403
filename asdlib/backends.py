"""Inlier back ends: scoring a trained classifier's clips by their embeddings instead of its log-odds.

Beyond the poster.  Every DCASE Task 2 edition after 2021 was won by
systems that keep a section classifier like the poster's but score a clip
by how far its embedding lies from the embeddings of the normal training
clips.  Here any trained CNN (the MobileNetV2 baseline and every ablation
row) can be scored so, without retraining (``backend`` and its parameters
are scoring fields of :class:`asdlib.config.TrainConfig`):

* a clip's **embedding** is the mean, over the patches scoring cuts from
  it (every ``test_hop`` frames, median-filtered under "+MF"), of the
  1,280 pooled values the classifier reads
  (:func:`asdlib.scoring.clip_embeddings`);
* each back end is **fitted per section on the training clips' embeddings
  only** (both domains; no test clip, no label), and a test clip is scored
  against its own section's model:

  - ``"knn"``: the mean distance to the ``knn_k`` nearest training
    embeddings, cosine (``1 - cos``) or Euclidean (``knn_metric``);
  - ``"mahalanobis"``: the Mahalanobis distance to the section's mean
    under the Ledoit-Wolf shrunk covariance (scikit-learn's ``LedoitWolf``:
    1,280 values and a few hundred clips need the shrinkage);
  - ``"gmm"``: the negative log-likelihood under a Gaussian mixture of
    ``gmm_components`` components with diagonal covariances (scikit-learn,
    seeded by the run's seed), whose variances get a floor of 1 % of the
    section's mean variance (:data:`GMM_FLOOR`: many pooled channels barely
    move over the normal clips, and a vanishing variance would let them
    decide every score);
  - ``per_domain``: the Mahalanobis and mixture models are fitted per
    section and domain, and a clip's score is the smaller of the two
    (DCASE 2023's "selective Mahalanobis": the score needs no domain label);
    a domain with a single training clip is left out.

* the training clips' own scores, to which the decision threshold is
  fitted, are leave-one-out for the k-NN (a clip is not its own
  neighbour) and in-sample for the others.
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from ._atomic import atomic_path
from .cache import CachedFeatures
from .checkpoint import Trained
from .config import TrainConfig
from .errors import ConfigError, SectionError
from .scoring import check_trained_sections, clip_means, clip_scores, section_log_odds
from .tables import clip_frame, scores_by_machine, test_cells
from .windows import Inputs

#: How the book names each back end.
BACKEND_NAMES = {"classifier": "log-odds", "knn": "kNN", "mahalanobis": "Mahalanobis", "gmm": "GMM"}
#: The mixture's variance floor, as a share of the mean variance of the section's embeddings.
GMM_FLOOR = 0.01


# ---------------------------------------------------------------- distances


def pairwise_distances(query: np.ndarray, ref: np.ndarray, metric: str = "cosine") -> np.ndarray:
    """Distances between rows, shape=(len(query), len(ref)): ``1 - cos`` or Euclidean."""
    query, ref = np.asarray(query, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    if metric == "cosine":
        def unit(a):
            norm = np.linalg.norm(a, axis=1, keepdims=True)
            return a / np.where(norm > 0, norm, 1.0)
        return 1.0 - unit(query) @ unit(ref).T
    if metric == "euclidean":
        sq = (query ** 2).sum(1)[:, None] + (ref ** 2).sum(1)[None, :] - 2.0 * query @ ref.T
        return np.sqrt(np.maximum(sq, 0.0))
    raise ConfigError(f"knn_metric must be 'cosine' or 'euclidean', got {metric!r}")


def knn_score(query: np.ndarray, ref: np.ndarray, *, k: int = 1, metric: str = "cosine",
              leave_out: np.ndarray | None = None) -> np.ndarray:
    """The mean distance of each query row to its ``k`` nearest rows of ``ref``.

    ``leave_out``: for each query row, the index of a ``ref`` row it may not
    use (itself, when the queries are the reference: leave-one-out); k is
    then at most ``len(ref) - 1``, and a single reference row scores 0.
    """
    d = pairwise_distances(query, ref, metric)
    available = len(ref) - (leave_out is not None)
    if available < 1:
        return np.zeros(len(query))
    if leave_out is not None:
        d[np.arange(len(query)), leave_out] = np.inf
    k = min(k, available)
    return np.sort(d, axis=1)[:, :k].mean(axis=1)


@dataclass
class Gaussian:
    """One Gaussian of the Mahalanobis back end: mean and (shrunk) precision matrix."""

    mean: np.ndarray
    precision: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> "Gaussian":
        """Ledoit-Wolf's shrunk covariance, inverted through its Cholesky factor (scikit-learn's own
        precision is a pseudo-inverse by eigendecomposition: a fit of 1,280 dimensions took 1.56 s on
        the 2-core CPU against 0.31; ``bench/backends.py``); pseudo-inverted where it is singular."""
        from scipy.linalg import LinAlgError, cho_factor, cho_solve, pinvh
        from sklearn.covariance import LedoitWolf

        lw = LedoitWolf(store_precision=False).fit(x)
        try:
            precision = cho_solve(cho_factor(lw.covariance_, lower=True), np.eye(len(lw.covariance_)))
        except LinAlgError:
            precision = pinvh(lw.covariance_)
        return cls(mean=lw.location_, precision=precision)

    def distance(self, x: np.ndarray) -> np.ndarray:
        d = np.asarray(x, dtype=np.float64) - self.mean
        return np.sqrt(np.maximum(np.sum((d @ self.precision) * d, axis=1), 0.0))


def _mixture(x: np.ndarray, components: int, seed: int):
    from sklearn.mixture import GaussianMixture

    floor = GMM_FLOOR * float(x.var(axis=0).mean()) if len(x) > 1 else 1e-6
    return GaussianMixture(n_components=min(components, len(x)), covariance_type="diag",
                           reg_covar=max(floor, 1e-12), random_state=seed).fit(x)


# ---------------------------------------------------------------- fitting


@dataclass
class Fitted:
    """A back end fitted on one machine type's training embeddings, one model per section (and domain)."""

    config: TrainConfig
    train: np.ndarray  # the training embeddings, (n, dim)
    sections: np.ndarray  # each training clip's section
    models: dict  # (section, domain or None) -> Gaussian, mixture or the rows of `train` (k-NN)

    def score(self, emb: np.ndarray, sections: Sequence[str], *, training: bool = False) -> np.ndarray:
        """The anomaly score of each embedding (higher: more anomalous) against its section's model.

        ``training``: ``emb`` are the training embeddings themselves, in the
        order they were fitted (the k-NN leaves each clip out of its own
        neighbours).
        """
        emb, sections = np.asarray(emb, dtype=np.float64), np.asarray(sections)
        out = np.full(len(emb), np.nan)
        c = self.config
        for section in np.unique(sections):
            rows = np.flatnonzero(sections == section)
            groups = [key for key in self.models if key[0] == section]
            if not groups:
                raise SectionError(f"section {section} has no training clip to fit the {c.backend} back end on")
            if c.backend == "knn":
                ref = self.models[groups[0]]
                leave = None
                if training:
                    leave = np.searchsorted(np.flatnonzero(self.sections == section), rows)
                out[rows] = knn_score(emb[rows], self.train[ref], k=c.knn_k, metric=c.knn_metric,
                                      leave_out=leave)
            elif c.backend == "mahalanobis":
                out[rows] = np.min([self.models[g].distance(emb[rows]) for g in groups], axis=0)
            else:
                out[rows] = np.min([-self.models[g].score_samples(emb[rows]) for g in groups], axis=0)
        return out


def fit_backend(config: TrainConfig, train: np.ndarray, sections: Sequence[str],
                domains: Sequence[str]) -> Fitted:
    """Fit ``config.backend`` on the training clips' embeddings, per section (and domain)."""
    if config.backend == "classifier":
        raise ConfigError("backend 'classifier' scores with the network's own log-odds; nothing to fit")
    train = np.asarray(train, dtype=np.float64)
    sections, domains = np.asarray(sections), np.asarray(domains)
    models: dict = {}
    for section in dict.fromkeys(sections):
        rows = np.flatnonzero(sections == section)
        if config.backend == "knn":
            models[(section, None)] = rows
            continue
        groups = ({d: rows[domains[rows] == d] for d in dict.fromkeys(domains[rows])}
                  if config.per_domain else {None: rows})
        groups = {d: r for d, r in groups.items() if len(r) >= 2} or ({None: rows} if len(rows) >= 2 else {})
        if not groups:
            raise ConfigError(f"section {section}: the {config.backend} back end needs two training clips "
                              f"or more, found {len(rows)}")
        for d, r in groups.items():
            models[(section, d)] = (Gaussian.fit(train[r]) if config.backend == "mahalanobis"
                                    else _mixture(train[r], config.gmm_components, config.seed))
    return Fitted(config=config, train=train, sections=sections, models=models)


# ---------------------------------------------------------------- a trained run, scored


def _clips(feats: CachedFeatures | Inputs) -> list:
    return list((feats.feats if isinstance(feats, Inputs) else feats).clips)


@dataclass
class Embeddings:
    """The clip embeddings of one trained classifier on its machine type's training and test clips,
    and the same clips' own log-odds scores (``config.score``), from the same passes.

    Every clip is scored over the windows scoring cuts from it (every
    ``test_hop`` frames): the training clips' log-odds are the scores the
    decision threshold is fitted to when ``threshold_hop`` is 0 or
    ``test_hop`` (:func:`backend_scores`).  :meth:`save` and :meth:`load`
    keep them in a run's folder, so that a re-run or another back end
    scores without a forward pass.
    """

    trained: Trained
    train: np.ndarray
    test: np.ndarray
    train_clips: list
    test_clips: list
    log_odds: np.ndarray
    train_log_odds: np.ndarray

    @classmethod
    def of(cls, trained: Trained, train_feats: CachedFeatures | Inputs, test_feats: CachedFeatures | Inputs, *,
           device: str | torch.device | None = None, progress: bool = True) -> "Embeddings":
        test_clips, train_clips = _clips(test_feats), _clips(train_feats)
        check_trained_sections(trained, test_clips)
        index = {s: i for i, s in enumerate(trained.sections)}
        form = trained.config.score

        def passes(feats, clips, split):
            section_of = np.array([index[c.section] for c in clips], dtype=np.int64)

            def both(model, x, clip):  # the network's forward pass, split where the embedding is
                emb = model.embed(x)
                sec = torch.from_numpy(section_of[clip]).to(x.device)
                return torch.cat([section_log_odds(model.classify(emb), sec, form=form)[:, None], emb.double()],
                                 dim=1)
            return clip_means(trained, feats, both, device=device, progress=progress,
                              desc=f"embedding {trained.machine} {split}")
        test, train = passes(test_feats, test_clips, "test"), passes(train_feats, train_clips, "train")
        return cls(trained=trained, train=train[:, 1:], test=test[:, 1:], train_clips=train_clips,
                   test_clips=test_clips, log_odds=test[:, 0], train_log_odds=train[:, 0])

    def save(self, path: str | Path, key: Mapping) -> Path:
        """Write the clips' embeddings and log-odds to ``path`` (``.npz``, atomically) under ``key``,
        a JSON-able description of what they were computed from (:meth:`load` compares it)."""
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, key=np.array(json.dumps(key, sort_keys=True)), train=self.train, test=self.test,
                     log_odds=self.log_odds, train_log_odds=self.train_log_odds)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path, key: Mapping, trained: Trained, train_feats: CachedFeatures | Inputs,
             test_feats: CachedFeatures | Inputs) -> "Embeddings | None":
        """What :meth:`save` wrote to ``path`` for the same ``key`` and clips; None when the file is
        missing, unreadable or of anything else (the caller computes them afresh)."""
        train_clips, test_clips = _clips(train_feats), _clips(test_feats)
        try:
            with np.load(path, allow_pickle=False) as z:
                if json.loads(str(z["key"])) != json.loads(json.dumps(key, sort_keys=True)):
                    return None
                arrays = {k: np.array(z[k]) for k in ("train", "test", "log_odds", "train_log_odds")}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None
        shapes = {"train": (len(train_clips), -1), "test": (len(test_clips), -1),
                  "log_odds": (len(test_clips),), "train_log_odds": (len(train_clips),)}
        for k, shape in shapes.items():
            a = arrays[k]
            if a.dtype != np.float64 or a.ndim != len(shape) or a.shape[0] != shape[0]:
                return None
        return cls(trained=trained, train_clips=train_clips, test_clips=test_clips, **arrays)

    def scores(self, config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
        """The training and test clips' scores under ``config``'s back end (not ``"classifier"``)."""
        fitted = fit_backend(config, self.train, [c.section for c in self.train_clips],
                             [c.domain for c in self.train_clips])
        return (fitted.score(self.train, [c.section for c in self.train_clips], training=True),
                fitted.score(self.test, [c.section for c in self.test_clips]))


def from_passes(config: TrainConfig) -> bool:
    """Whether a configuration's scores are those of :class:`Embeddings`' passes: any classifier
    scored by a back end, or by its log-odds with the decision threshold's windows the scored ones."""
    return config.model != "ae" and (config.backend != "classifier" or config.threshold_hop in (0, config.test_hop))


def backend_scores(trained: Trained, train_feats: CachedFeatures | Inputs, test_feats: CachedFeatures | Inputs,
                   *, embeddings: Embeddings | None = None,
                   device: str | torch.device | None = None, progress: bool = True
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The training and test clips' scores of a trained network under its configuration's back end.

    ``embeddings``: the network's :class:`Embeddings` on these clips when at
    hand (a run's saved passes).  Under ``"classifier"`` they give the
    log-odds when the decision threshold reads the scored windows
    (:func:`from_passes`); without them, and for the autoencoder,
    :func:`asdlib.scoring.clip_scores` scores the clips (the training clips
    every ``threshold_hop`` frames).  Any other back end is fitted on the
    training clips' embeddings (computed here when not given).
    """
    config = trained.config
    if config.model == "ae" or (config.backend == "classifier" and (embeddings is None or not from_passes(config))):
        return (clip_scores(trained, train_feats, device=device, progress=progress,
                            desc=f"scoring {trained.machine} train", hop=config.threshold_hop or None),
                clip_scores(trained, test_feats, device=device, progress=progress,
                            desc=f"scoring {trained.machine} test"))
    emb = embeddings or Embeddings.of(trained, train_feats, test_feats, device=device, progress=progress)
    if config.backend == "classifier":
        return emb.train_log_odds, emb.log_odds
    return emb.scores(config)


def check_backends(backends: Mapping[str, Mapping]) -> None:
    """Refuse a named back end whose fields are not all scoring fields: a back end never changes the
    trained weights."""
    from .config import SCORING_FIELDS, check_overrides

    for name, fields in backends.items():
        check_overrides(fields, where=f"back end {name!r}: ")  # known fields, values of the right type
        extra = sorted(set(fields) - set(SCORING_FIELDS))
        if extra:
            raise ConfigError(f"back end {name!r}: {', '.join(extra)} are not scoring fields (those are "
                              f"{', '.join(SCORING_FIELDS)})")
        TrainConfig(model="mbv2", **fields)  # a bad value is named now, not after the training


def compare_backends(runs: Mapping[str, Mapping[str, "Embeddings"]], backends: Mapping[str, Mapping],
                     *, seed: int = 0) -> pd.DataFrame:
    """Every back end on every run: one row per (system, back end, machine type), in percent.

    ``runs``: system -> machine type -> the run's :class:`Embeddings`;
    ``backends``: a name -> the scoring fields that make it (e.g.
    ``{"kNN, cosine": {"backend": "knn"}}``); each run's own log-odds come
    first, as the back end ``"log-odds"``.  The columns are those of
    :func:`asdlib.tables.scores_by_machine` (score, source, target, AUC,
    pAUC) with ``backend``; the official score over the machine types is
    the row with machine ``"Score"``.
    """
    check_backends(backends)
    cells = []
    for system, by_machine in runs.items():
        for machine, emb in by_machine.items():
            scored = {BACKEND_NAMES["classifier"]: emb.log_odds}
            for name, fields in backends.items():
                scored[name] = emb.scores(emb.trained.config.replace(**fields))[1]
            for name, s in scored.items():
                cells.append(test_cells(clip_frame(emb.test_clips, s), machine)
                             .assign(system=system, backend=name, seed=seed))
    cells = pd.concat(cells, ignore_index=True)
    tables = [scores_by_machine(g).assign(backend=b)
              for b, g in cells.groupby("backend", sort=False)]
    return pd.concat(tables, ignore_index=True)[["system", "backend", "machine", "score", "source", "target",
                                                 "AUC", "pAUC"]]
