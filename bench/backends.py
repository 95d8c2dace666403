"""The Mahalanobis back end's fit and distances: scikit-learn's precision against the Cholesky one.

Chapter 9 fits a Gaussian per section (and per section and domain) on
1,280-value embeddings, 45 fits in the ``book`` build.  scikit-learn's
``LedoitWolf().fit`` also computes the precision matrix as a
pseudo-inverse by eigendecomposition (``scipy.linalg.pinvh``), and the
distances were an ``einsum`` that NumPy does not hand to BLAS: in a
profile of the chapter's comparison of the back ends on the 2-core CPU,
55 and 18 s of its 80 s.  :class:`asdlib.backends.Gaussian`
inverts the same shrunk covariance through its Cholesky factor and takes
the distances with matrix products.  This script fits both ways on the
same embeddings (random, with a few strong directions, as trained
embeddings have), in one process, the old way first, and prints the
seconds, the speed-ups, the largest relative difference of the
distances and whether they rank the queries alike.

    .venv/bin/python bench/backends.py                 # 1,280 dimensions, 50 training rows, 200 queries
    .venv/bin/python bench/backends.py --dim 640 --train 300
"""
from __future__ import annotations

import argparse
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dim", type=int, default=1280, help="embedding size (default 1,280)")
    ap.add_argument("--train", type=int, default=50, help="training rows per Gaussian (default 50)")
    ap.add_argument("--queries", type=int, default=200, help="rows scored (default 200)")
    ap.add_argument("--repeat", type=int, default=5, help="fits timed each way (default 5)")
    args = ap.parse_args()
    if min(args.dim, args.queries, args.repeat) < 1 or args.train < 2:
        ap.error("--dim, --queries and --repeat must be at least 1, --train at least 2")

    import numpy as np
    from sklearn.covariance import LedoitWolf

    from asdlib.backends import Gaussian

    rng = np.random.default_rng(0)
    mix = rng.normal(size=(16, args.dim)) * 3.0

    def draw(n):
        return rng.normal(size=(n, 16)) @ mix + rng.normal(size=(n, args.dim))

    train, queries = draw(args.train), draw(args.queries)

    def timed(fn):
        start = time.perf_counter()
        for _ in range(args.repeat):
            out = fn()
        return out, (time.perf_counter() - start) / args.repeat

    def old_fit():
        lw = LedoitWolf().fit(train)
        return lw.location_, lw.precision_

    (mean, precision), t_old_fit = timed(old_fit)
    old, t_old_dist = timed(lambda: np.sqrt(np.maximum(
        np.einsum("ij,jk,ik->i", queries - mean, precision, queries - mean), 0.0)))
    gauss, t_fit = timed(lambda: Gaussian.fit(train))
    new, t_dist = timed(lambda: gauss.distance(queries))
    print(f"{args.dim} dimensions, {args.train} training rows, {args.queries} queries; seconds per call")
    print(f"fit: LedoitWolf's pinvh precision (reference) {t_old_fit:8.3f}, Cholesky {t_fit:8.3f}   "
          f"{t_old_fit / t_fit:6.1f}x")
    print(f"distances: einsum (reference)               {t_old_dist:8.3f}, matmul   {t_dist:8.3f}   "
          f"{t_old_dist / t_dist:6.1f}x")
    same_order = bool(np.array_equal(np.argsort(old, kind="stable"), np.argsort(new, kind="stable")))
    print(f"largest relative difference of the distances: {np.max(np.abs(new - old) / old):.1e}; "
          f"the same ranking: {same_order}")
    return 0 if same_order else 1


if __name__ == "__main__":
    raise SystemExit(main())
