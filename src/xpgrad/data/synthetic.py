"""Generated toy datasets for 2-D classification (host-side NumPy)."""

from __future__ import annotations

import numpy as np

__all__ = ["blobs", "spiral"]


def _positive_int(name, value, fn):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{fn}: {name} must be a positive integer, got {value!r}")
    return int(value)


def spiral(n_per_class: int = 100, classes: int = 3, noise: float = 0.2, seed: int | None = 0):
    """The classic spiral: ``classes`` arms winding around the origin, one class per arm.

    Point i of arm j has radius rᵢ = i / (n − 1) (from 0 to 1) and angle
    θᵢ = 4j + 4 · rᵢ + noise · εᵢ with εᵢ ~ N(0, 1), and sits at
    (r sin θ, r cos θ). No straight line separates the arms, so a linear
    classifier stays near chance while a small network with one hidden
    layer fits them.

    Parameters
    ----------
    n_per_class : int
        Points per arm.
    classes : int
        Number of arms (= classes).
    noise : float
        Standard deviation of the angular jitter.
    seed : int or None
        Seed of the private generator (None: fresh randomness).

    Returns
    -------
    X : numpy.ndarray, float32, shape (n_per_class · classes, 2)
    y : numpy.ndarray, int64, shape (n_per_class · classes,)
        Labels 0 … classes − 1, grouped by class.

    Examples
    --------
    >>> from xpgrad.data import spiral
    >>> X, y = spiral(100, 3)
    >>> X.shape, X.dtype.name, y.dtype.name, sorted(set(y.tolist()))
    ((300, 2), 'float32', 'int64', [0, 1, 2])
    """
    n = _positive_int("n_per_class", n_per_class, "spiral")
    k = _positive_int("classes", classes, "spiral")
    if not noise >= 0:
        raise ValueError(f"spiral: noise must be >= 0, got {noise!r}")
    rng = np.random.default_rng(seed)
    r = np.linspace(0.0, 1.0, n)
    X = np.empty((n * k, 2), dtype=np.float64)
    for j in range(k):
        theta = np.linspace(4.0 * j, 4.0 * (j + 1), n) + rng.standard_normal(n) * noise
        X[j * n:(j + 1) * n] = np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1)
    y = np.repeat(np.arange(k, dtype=np.int64), n)
    return X.astype(np.float32), y


def blobs(n_per_class: int = 100, classes: int = 3, features: int = 2, std: float = 1.0,
          center_box: tuple[float, float] = (-10.0, 10.0), seed: int | None = 0, center_seed: int | None = None):
    """Gaussian blobs: class j is N(cⱼ, std² I) around a centre cⱼ drawn uniformly from ``center_box``.

    With the default spread the classes barely overlap, so even a linear
    classifier separates them (the opposite of :func:`spiral`).

    The centres are the first draw of the generator seeded with
    ``center_seed`` (default: ``seed``); the points are drawn with ``seed``.
    A training and a validation set of the *same* problem therefore share
    ``center_seed`` and differ in ``seed``: ``blobs(seed=0)`` and
    ``blobs(seed=1, center_seed=0)`` have the same class centres, while
    ``blobs(seed=1)`` is another problem whose classes sit elsewhere.

    Parameters
    ----------
    n_per_class, classes, features : int
        Points per class, number of classes, dimension of each point.
    std : float
        Standard deviation of every blob.
    center_box : (float, float)
        Range the centre coordinates are drawn from.
    seed : int or None
        Seed of the private generator of the points (and of the centres when
        ``center_seed`` is None).
    center_seed : int or None
        Seed of the class centres; pass the training set's ``seed`` to draw
        more points (a validation set) around the same centres.

    Returns
    -------
    X : numpy.ndarray, float32, shape (n_per_class · classes, features)
    y : numpy.ndarray, int64, shape (n_per_class · classes,)

    Examples
    --------
    >>> from xpgrad.data import blobs
    >>> X, y = blobs(50, classes=4, features=3)
    >>> X.shape, X.dtype.name, y.tolist()[::50]
    ((200, 3), 'float32', [0, 1, 2, 3])
    >>> Xv, yv = blobs(50, classes=4, features=3, seed=1, center_seed=0)  # validation: same centres
    >>> bool(abs(X[:50].mean(0) - Xv[:50].mean(0)).max() < 1.0)
    True
    """
    n = _positive_int("n_per_class", n_per_class, "blobs")
    k = _positive_int("classes", classes, "blobs")
    d = _positive_int("features", features, "blobs")
    if not std >= 0:
        raise ValueError(f"blobs: std must be >= 0, got {std!r}")
    try:
        lo, hi = (float(v) for v in center_box)
    except (TypeError, ValueError):
        raise ValueError(f"blobs: center_box must be two numbers (low, high), got {center_box!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
        raise ValueError(f"blobs: center_box must be finite with low <= high, got {center_box!r}")
    rng = np.random.default_rng(seed)
    if center_seed is None:  # one generator: the centres are its first draw, as before center_seed existed
        centers = rng.uniform(lo, hi, size=(k, d))
    else:
        centers = np.random.default_rng(center_seed).uniform(lo, hi, size=(k, d))
    X = np.repeat(centers, n, axis=0) + rng.standard_normal((n * k, d)) * std
    y = np.repeat(np.arange(k, dtype=np.int64), n)
    return X.astype(np.float32), y
