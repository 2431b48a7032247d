"""Integrity checks of checkpoint files: the error type, per-tensor and metadata checksums, finite weights.

Used by :mod:`xpgrad.checkpoint` (which re-exports :class:`CheckpointError`):
:func:`save <xpgrad.checkpoint.save>` stores :func:`checksum` of every tensor
and :func:`meta_checksum` of the JSON state in the ``checksums`` metadata and
refuses non-finite model weights (:func:`check_finite`);
:func:`load <xpgrad.checkpoint.load>` calls :func:`verify`.
"""

from __future__ import annotations

import os
import zlib

import numpy as np

__all__ = ["CheckpointError", "check_finite", "checksum", "meta_checksum", "verify"]


class CheckpointError(ValueError):
    """A checkpoint file is unreadable, foreign, or does not fit the objects it is loaded into."""


CheckpointError.__module__ = "xpgrad.checkpoint"  # its public home (tracebacks, docs)


def checksum(arr) -> str:
    """CRC-32 of an array's raw little-endian bytes, as stored in the file (``"crc32:1a2b3c4d"``)."""
    arr = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
    return f"crc32:{zlib.crc32(memoryview(arr).cast('B')) if arr.size else 0:08x}"


def check_finite(path, tensors: dict) -> None:
    """Refuse to save NaN/inf model weights: name each bad tensor and how many values are bad."""
    bad = [f"{name[len('model/'):]} ({int(np.count_nonzero(~np.isfinite(a)))} of {a.size} values)"
           for name, a in tensors.items() if a.size and np.issubdtype(a.dtype, np.floating)
           and not (np.isfinite(a.min()) and np.isfinite(a.max()))]  # NaN propagates through min/max
    if bad:
        raise CheckpointError(f"refusing to save {os.fspath(path)!r}: the model has NaN or infinite values in "
                              f"{', '.join(bad)}; training has diverged, so the file (if any) was left as it was. "
                              "Lower the learning rate, clip gradients or check the data, and resume from the "
                              "last good checkpoint")


def meta_checksum(metadata) -> str:
    """CRC-32 of the JSON texts of ``state`` and ``meta`` (hyperparameters, steps, layout)."""
    return f"crc32:{zlib.crc32((metadata['state'] + chr(0) + metadata['meta']).encode()):08x}"


def verify(path, sums, tensors, meta_sum) -> None:
    """Compare every tensor, and the state and meta JSON, with the checksums stored when they were written."""
    if isinstance(sums, dict) and sums.pop("__metadata__", meta_sum) != meta_sum:
        raise CheckpointError(f"checkpoint {path!r} is corrupted: its state/meta metadata (hyperparameters, step "
                              "counts, layout) does not match the checksum stored when it was written; the file "
                              "was damaged on disk or in a copy: use another checkpoint or copy it again")
    if not isinstance(sums, dict) or set(sums) != set(tensors):
        names = sorted(set(sums) ^ set(tensors)) if isinstance(sums, dict) else ["(all)"]
        raise CheckpointError(f"checkpoint {path!r} is damaged: its checksum table does not match its tensors "
                              f"({', '.join(names)}); use another checkpoint")
    for name, arr in tensors.items():
        now = checksum(arr)
        if sums[name] != now:
            raise CheckpointError(f"checkpoint {path!r} is corrupted: the data of tensor {name!r} does not match "
                                  f"the checksum stored when it was written ({sums[name]}, now {now}); the file "
                                  "was damaged on disk or in a copy: use another checkpoint or copy it again")
