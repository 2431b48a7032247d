"""Checkpoints: model, optimizer, schedule and RNG state in one safetensors file, no pickle.

Layout of a checkpoint file
---------------------------
* every array (parameters, buffers, optimizer moments, ...) is a tensor of
  the safetensors file, named after where it came from (``model/0.weight``,
  ``optimizer/state/0/m``, ...);
* everything else goes as JSON strings into the safetensors metadata:
  ``format`` (``"xpgrad-checkpoint"``), ``format_version``, ``state`` (the
  optimizer and schedule state dicts with arrays replaced by references to
  tensors, the random generator state of every loaded backend, and the model's
  parameter names, shapes and dtypes), ``meta`` (the keyword arguments given
  to :func:`save`, e.g. ``epoch``) and ``checksums`` (the CRC-32 of the raw
  bytes of every tensor, ``{"model/0.weight": "crc32:1a2b3c4d", ...}``, and
  under ``"__metadata__"`` that of the ``state`` and ``meta`` texts).

Files are written atomically (:func:`write_atomic`; the next save or load
removes temporary files of writers killed mid-save). :func:`save` refuses
NaN/inf model weights; :func:`load` verifies the checksums and changes all of
model, optimizer, schedule and generators or none of them.

Format versions
---------------
* 2 (current): ``nn.Linear`` and ``nn.Maxout`` weights have PyTorch's shape
  ``(out_features, in_features)``. ``checksums`` is optional (files written
  before it existed load unverified; readers that predate it ignore it).
* 1: those weights were stored as ``(in_features, out_features)``. :func:`load`
  still reads such files: it transposes the weights of the ``Linear``/``Maxout``
  layers of the model it is given, and the optimizer buffers (momentum,
  moments) of those weights, before checking and loading.
"""

from __future__ import annotations

import copy
import json
import os
import struct

import numpy as np

from . import backend as _backend
from .atomic import remove_stale_temps, write_atomic
from .autograd import as_tensor
from .checkpoint_checks import CheckpointError, check_finite, checksum, meta_checksum, verify

__all__ = ["CheckpointError", "load", "read_metadata", "save", "write_atomic"]

FORMAT = "xpgrad-checkpoint"
FORMAT_VERSION = 2
_READABLE_VERSIONS = ("1", "2")  # 1: Linear/Maxout weights (in, out), converted on load
_PARTS = ("model", "optimizer", "schedule")


# -- splitting state dicts into JSON + arrays ------------------------------------------------------


def _is_tensor(x) -> bool:
    from .autograd import Tensor

    return isinstance(x, Tensor)


def _is_array_like(x) -> bool:
    from .autograd import Tensor

    return isinstance(x, (Tensor, np.ndarray)) or _backend.is_array(x)


def _flatten(obj, where: str, tensors: dict):
    """Return a JSON-able copy of ``obj``; arrays move into ``tensors`` and leave a reference behind."""
    from .autograd import Tensor

    if _is_array_like(obj):
        kind = "tensor" if isinstance(obj, Tensor) else "array"
        data = obj.data if isinstance(obj, Tensor) else obj
        name, k = where, 1
        while name in tensors:  # keys that stringify alike ("0" and 0) must not collide
            name, k = f"{where}#{k}", k + 1
        tensors[name] = np.ascontiguousarray(_backend.to_numpy(data))
        return {"__array__": name, "kind": kind}
    if isinstance(obj, np.generic):  # keep NumPy scalars' dtype exactly
        tensors[where] = np.asarray(obj)
        return {"__array__": where, "kind": "scalar"}
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _flatten(v, f"{where}/{k}", tensors) for k, v in obj.items()}
        return {"__items__": [[_flatten(k, f"{where}/key{i}", tensors), _flatten(v, f"{where}/{k}", tensors)]
                              for i, (k, v) in enumerate(obj.items())]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_flatten(v, f"{where}/{i}", tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_flatten(v, f"{where}/{i}", tensors) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} value at {where!r} in a checkpoint: only arrays, tensors, "
                    "numbers, strings, None and lists/tuples/dicts of them are allowed (no pickle)")


def _unflatten(obj, tensors: dict, target):
    """Inverse of :func:`_flatten`; arrays land on backend ``target`` (None keeps NumPy)."""
    if isinstance(obj, list):
        return [_unflatten(v, tensors, target) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__array__" in obj:
        name = obj["__array__"]
        if name not in tensors:
            raise CheckpointError(f"checkpoint metadata refers to tensor {name!r}, which the file does not contain")
        arr = tensors[name]
        if obj.get("kind") == "scalar":
            return arr[()]
        if target is None:
            return arr
        data = target.asarray(arr, dtype=arr.dtype.name)
        return as_tensor(data, backend=target) if obj.get("kind") == "tensor" else data
    if "__tuple__" in obj:
        return tuple(_unflatten(v, tensors, target) for v in obj["__tuple__"])
    if "__items__" in obj:
        return {_unflatten(k, tensors, target): _unflatten(v, tensors, target) for k, v in obj["__items__"]}
    return {k: _unflatten(v, tensors, target) for k, v in obj.items()}


def _rng_states() -> dict:
    """Generator state of every backend loaded in this process (NumPy's is plain ints and strings)."""
    return {name: b.rng_state() for name, b in _backend.loaded_backends().items()}


def _model_layout(state: dict) -> dict:
    layout = {}
    for key, value in state.items():
        if _is_array_like(value):
            arr = value.data if _is_tensor(value) else value
            layout[key] = [list(arr.shape), _backend.dtype_name(arr.dtype)]
    return layout


# -- save --------------------------------------------------------------------------------


def save(path, *, model=None, optimizer=None, schedule=None, **meta) -> str:
    """Write a checkpoint of ``model``, ``optimizer`` and ``schedule`` (any may be None) to ``path``.

    Arrays go into the safetensors tensors; hyperparameters, step counters,
    the random generator state of every loaded backend and ``meta`` (any
    JSON-serialisable keyword arguments, e.g. ``epoch=3``) into its JSON
    metadata, with a CRC-32 checksum of every tensor. The write is atomic:
    see :func:`write_atomic`. A model with a NaN or infinite value in any
    floating parameter or buffer raises :class:`CheckpointError` naming the
    tensors, and nothing is written (an existing file stays as it was).

    Parameters
    ----------
    path : str or path-like
        Destination file, conventionally ``*.safetensors``.
    model, optimizer, schedule : objects with ``state_dict()``, optional
    **meta
        Extra JSON values returned by :func:`load`.

    Returns
    -------
    str
        The path written.

    >>> import os, tempfile, numpy as np
    >>> class Box:  # anything with state_dict()/load_state_dict() works
    ...     def __init__(self): self.w = np.zeros(3, dtype="float32")
    ...     def state_dict(self): return {"w": self.w}
    ...     def load_state_dict(self, d): self.w = np.asarray(d["w"])
    >>> p = os.path.join(tempfile.mkdtemp(), "ckpt.safetensors")
    >>> a = Box(); a.w += 1.5
    >>> _ = save(p, model=a, epoch=4)
    >>> b = Box(); load(p, model=b)["epoch"], b.w
    (4, array([1.5, 1.5, 1.5], dtype=float32))
    """
    from safetensors.numpy import save as _st_save

    tensors: dict = {}
    state = {"rng": _rng_states(), "parts": {}}
    for part, obj in zip(_PARTS, (model, optimizer, schedule), strict=True):
        if obj is None:
            continue
        sd = obj.state_dict()
        before = set(tensors)
        entry = {"class": _class_name(obj), "state": _flatten(sd, part, tensors)}
        if part == "model":
            entry["layout"] = _model_layout(sd)
            check_finite(path, {k: v for k, v in tensors.items() if k not in before})
        state["parts"][part] = entry
    try:
        meta_json = json.dumps(meta, allow_nan=True)
    except TypeError as e:
        raise TypeError(f"checkpoint meta must be JSON-serialisable ({e}); got keys {sorted(meta)}") from None
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "state": json.dumps(state),
                "meta": meta_json}
    metadata["checksums"] = json.dumps({"__metadata__": meta_checksum(metadata),
                                        **{k: checksum(v) for k, v in tensors.items()}})
    return write_atomic(path, _st_save(tensors, metadata=metadata))


# -- load --------------------------------------------------------------------------------


def _read(path):
    """Parse and validate a checkpoint file: (metadata dict, tensors dict); raises CheckpointError."""
    from safetensors.numpy import load as _st_load

    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"checkpoint {path!r} does not exist") from None
    if len(raw) < 8:
        raise CheckpointError(f"{path!r} is not an xpgrad checkpoint: only {len(raw)} bytes (truncated or empty)")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise CheckpointError(f"{path!r} is truncated or not a safetensors file: its header announces {n} bytes "
                              f"but the file has {len(raw)}")
    try:
        header = json.loads(raw[8:8 + n])
        metadata = header.get("__metadata__") or {}
    except (ValueError, AttributeError):
        raise CheckpointError(f"{path!r} is not a safetensors file (header is not JSON)") from None
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path!r} is a safetensors file but not an xpgrad checkpoint (metadata format "
                              f"{metadata.get('format')!r}, expected {FORMAT!r}); write checkpoints with xpgrad.save")
    if metadata.get("format_version") not in _READABLE_VERSIONS:
        raise CheckpointError(f"{path!r} has checkpoint format version {metadata.get('format_version')!r}; this "
                              f"xpgrad reads versions {', '.join(_READABLE_VERSIONS)}: load it with the xpgrad that "
                              "wrote it, or upgrade xpgrad")
    try:
        tensors = _st_load(raw)
        state, meta = json.loads(metadata["state"]), json.loads(metadata["meta"])
        sums = json.loads(metadata["checksums"]) if "checksums" in metadata else None
    except Exception as e:  # SafetensorError, KeyError, JSON errors
        raise CheckpointError(f"{path!r} is a damaged or truncated checkpoint: {e}") from None
    if sums is not None and metadata["format_version"] != "1":  # older files have none (version 1 never)
        verify(path, sums, tensors, meta_checksum(metadata))
    if not isinstance(state, dict) or not isinstance(meta, dict):
        raise CheckpointError(f"{path!r} is a damaged checkpoint: its state or meta is not a JSON object")
    state["format_version"] = int(metadata["format_version"])
    return state, meta, tensors


def read_metadata(path) -> dict:
    """Return the ``meta`` keywords stored in a checkpoint without loading it into anything.

    >>> import os, tempfile
    >>> p = save(os.path.join(tempfile.mkdtemp(), "c.safetensors"), epoch=2, note="hi")
    >>> read_metadata(p)
    {'epoch': 2, 'note': 'hi'}
    """
    return _read(path)[1]


def _check_model(path, entry, model, tensors):
    current = _model_layout(model.state_dict())
    saved = {k: list(v) for k, v in entry["layout"].items()}
    missing = sorted(set(current) - set(saved))
    unexpected = sorted(set(saved) - set(current))
    wrong = [f"{k}: file {tuple(saved[k][0])} {saved[k][1]}, model {tuple(current[k][0])} {current[k][1]}"
             for k in sorted(set(saved) & set(current)) if saved[k][0] != current[k][0]]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing in the file: {', '.join(missing)}")
        if unexpected:
            parts.append(f"not in the model: {', '.join(unexpected)}")
        if wrong:
            parts.append("wrong shapes: " + "; ".join(wrong))
        raise CheckpointError(f"checkpoint {path!r} is from a different model ({entry['class']}): "
                              + " | ".join(parts) + ". Build the model with the same layer sizes before loading")


def _class_name(obj) -> str:
    """The class a checkpoint records: a DistributedOptimizer counts as the optimizer it wraps (its state is that
    one's), so a data-parallel run's checkpoint resumes in one process and the other way round."""
    from .distributed import DistributedOptimizer

    return type(obj.optimizer if isinstance(obj, DistributedOptimizer) else obj).__name__


def _check_class(path, part, entry, obj):
    if entry["class"] != _class_name(obj):
        raise CheckpointError(f"checkpoint {path!r} holds the {part} state of a {entry['class']}, but a "
                              f"{_class_name(obj)} was given; create the same kind of {part} before loading")


def _param_groups_shape(sd):
    groups = sd.get("param_groups") if isinstance(sd, dict) else None
    if not isinstance(groups, list):
        return None
    return [len(g["params"]) if isinstance(g, dict) and isinstance(g.get("params"), (list, tuple)) else None
            for g in groups]


def _target_backend(optimizer):
    """The backend of the optimizer's parameters (where its state arrays must live)."""
    for group in getattr(optimizer, "param_groups", ()) or ():
        for p in group.get("params", ()) if isinstance(group, dict) else ():
            if _is_tensor(p):
                return p.backend
    return _backend.current()


def load(path, *, model=None, optimizer=None, schedule=None, restore_rng: bool = True) -> dict:
    """Load a checkpoint written by :func:`save` into the given objects; return its ``meta`` dict.

    The file is read and checked completely first: a truncated, damaged or
    foreign file, a tensor whose bytes no longer match its checksum, a model
    whose parameter names or shapes differ, or an optimizer/schedule of
    another class raises :class:`CheckpointError` and leaves every object
    unchanged. The objects' own ``load_state_dict`` check the rest; if one
    of them, or restoring the generators, fails, every object already changed
    (the failing one included) is restored from a snapshot, so everything is
    loaded or nothing is (if restoring fails too, the error names the objects
    that may be partly changed).

    Parameters
    ----------
    path : str or path-like
    model, optimizer, schedule : objects with ``load_state_dict()``, optional
        Each given object must have its state in the file.
    restore_rng : bool
        Also restore the random generators of the backends saved in the file,
        so that data shuffling, dropout and initialization continue exactly
        as they would have without the interruption.

    Returns
    -------
    dict
        The ``meta`` keywords given to :func:`save` (e.g. ``{"epoch": 3}``).

    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "meta.safetensors")
    >>> load(save(p, epoch=7))
    {'epoch': 7}
    """
    path = os.fspath(path)
    remove_stale_temps(path)  # leftovers of writers killed while saving this file (never fails)
    state, meta, tensors = _read(path)
    given = dict(zip(_PARTS, (model, optimizer, schedule), strict=True))
    try:
        restored = _prepare(path, state, tensors, given)
        rng = state.get("rng", {}) if restore_rng else {}
        if not isinstance(rng, dict) or not all(isinstance(v, dict) for v in rng.values()):
            raise TypeError(f"generator states are {type(rng).__name__}")
    except (KeyError, TypeError, AttributeError, IndexError) as e:  # metadata of another shape than save's
        raise CheckpointError(f"{path!r} is a damaged checkpoint: its metadata does not have the structure "
                              f"xpgrad writes ({type(e).__name__}: {e}); use another file") from None
    _backend.current()  # make sure the default backend is loaded so that its generator is restored
    _apply(path, given, restored, rng)
    return meta


def _prepare(path, state, tensors, given) -> dict:
    """Check the file's parts against the objects given; return each object's new state dict (nothing applied)."""
    parts = state.get("parts", {})
    if state["format_version"] == 1:
        _upgrade_v1(path, parts, tensors, given["model"], given["optimizer"])
    restored = {}
    for part, obj in given.items():
        if obj is None:
            continue
        if part not in parts:
            raise CheckpointError(f"checkpoint {path!r} has no {part} state (it has: "
                                  f"{', '.join(parts) or 'none'}); pass {part}=None or use another file")
        entry = parts[part]
        if part == "model":
            _check_model(path, entry, obj, tensors)
            target = None  # Module.load_state_dict casts NumPy arrays to its own backend and dtype
        else:
            _check_class(path, part, entry, obj)
            target = _target_backend(obj) if part == "optimizer" else _backend.current()
        new = _unflatten(entry["state"], tensors, target)
        if part == "optimizer" and _param_groups_shape(new) != _param_groups_shape(obj.state_dict()):
            raise CheckpointError(f"checkpoint {path!r} has an optimizer with parameter groups of sizes "
                                  f"{_param_groups_shape(new)}, this one has {_param_groups_shape(obj.state_dict())};"
                                  " build the optimizer over the same parameters")
        restored[part] = new
    return restored


def _upgrade_v1(path, parts, tensors, model, optimizer):
    """Turn a version-1 file's Linear/Maxout weights (in, out) into (out, in), in ``parts`` and ``tensors``.

    The weights are found through the model given (its ``nn.Linear`` and
    ``nn.Maxout`` layers, subclasses included); the optimizer buffers of the same
    parameters are transposed too. Other arrays are left as they are.
    """
    from .nn import Linear, Maxout, Module

    weights = {}  # id(Parameter) -> Parameter, for every weight stored transposed in version 1
    if isinstance(model, Module):
        weights = {id(m.weight): m.weight for _, m in model.named_modules()
                   if isinstance(m, (Linear, Maxout)) and m.weight is not None}
    done = set()  # tensor names already transposed (a shared array is stored once)

    def transpose(ref, shape):
        name = ref.get("__array__") if isinstance(ref, dict) else None
        if name in tensors and name not in done and tensors[name].ndim == 2 and tensors[name].shape == shape:
            tensors[name] = np.ascontiguousarray(tensors[name].T)
            done.add(name)

    entry = parts.get("model")
    if entry is not None and weights:
        arrays = {id(p.data): p for p in weights.values()}
        for key, value in model.state_dict().items():
            p = arrays.get(id(value.data))
            if p is not None and key in entry["state"]:
                old = tuple(p.shape[::-1])
                transpose(entry["state"][key], old)
                if key in entry["layout"] and tuple(entry["layout"][key][0]) == old:
                    entry["layout"][key][0] = list(p.shape)
    entry = parts.get("optimizer")
    if entry is None or optimizer is None:
        return
    flat = entry["state"].get("state", {}) if isinstance(entry["state"], dict) else {}
    pairs = flat.get("__items__", []) if "__items__" in flat else list(flat.items())  # int keys: see _flatten
    if not weights and any(tensors[r["__array__"]].ndim == 2 for _, st in pairs if isinstance(st, dict)
                           for r in st.values() if isinstance(r, dict) and r.get("__array__") in tensors):
        raise CheckpointError(f"checkpoint {path!r} has format version 1, which stored nn.Linear weights as "
                              "(in_features, out_features); to convert the optimizer state of those weights, load "
                              "it together with the model: load(path, model=model, optimizer=optimizer)")
    params = [p for g in getattr(optimizer, "param_groups", ()) for p in g.get("params", ())]
    for index, st in pairs:
        p = params[int(index)] if str(index).isdigit() and int(index) < len(params) else None
        if p is not None and id(p) in weights and isinstance(st, dict):
            for ref in st.values():
                transpose(ref, tuple(p.shape[::-1]))


def _snapshot(obj):
    """A deep copy of ``obj.state_dict()`` with arrays copied to the host (for rolling back)."""
    tensors: dict = {}
    flat = _flatten(obj.state_dict(), "snap", tensors)
    return flat, {k: v.copy() for k, v in tensors.items()}


def _apply(path, given, restored, rng):
    done = []  # (part, object, snapshot) of every object whose load_state_dict was called
    loaded = _backend.loaded_backends()
    old_rng = {name: b.rng_state() for name, b in loaded.items() if name in rng}
    try:
        for part, new in restored.items():
            obj = given[part]
            done.append((part, obj, _snapshot(obj)))  # before the call: a failing load may change it part-way
            obj.load_state_dict(new)
        for name, st in rng.items():
            if name in loaded:  # a backend never loaded here has nothing to continue
                _backend.resolve(name).set_rng_state(copy.deepcopy(st))
    except BaseException as e:
        failed = _roll_back(done, old_rng)
        if not isinstance(e, Exception):  # KeyboardInterrupt and the like: restored, then passed on
            raise
        why = f"{type(e).__name__}: {e}"
        if failed:
            raise CheckpointError(f"loading {path!r} failed ({why}) and restoring the previous state failed too "
                                  f"for: {'; '.join(failed)}; those objects may be partly changed: build them "
                                  "again before using them") from e
        raise CheckpointError(f"loading {path!r} failed and nothing was changed: {why}") from e


def _roll_back(done, old_rng) -> list:
    """Restore the generators and every object in ``done`` (newest first); return what could not be restored."""
    failed = []
    for name, st in old_rng.items():
        try:
            _backend.resolve(name).set_rng_state(st)
        except Exception as e:  # noqa: BLE001 - reported to the caller
            failed.append(f"random generator of {name!r} ({type(e).__name__}: {e})")
    for part, obj, (flat, tensors) in reversed(done):
        target = None if part == "model" else (
            _target_backend(obj) if part == "optimizer" else _backend.current())
        try:
            now_flat, now = _snapshot(obj)
            if now_flat == flat and now.keys() == tensors.keys() and all(
                    a.dtype == now[k].dtype and np.array_equal(a, now[k], equal_nan=a.dtype.kind in "fc")
                    for k, a in tensors.items()):
                continue  # unchanged (its load_state_dict refused before changing anything)
            obj.load_state_dict(_unflatten(flat, tensors, target))
        except Exception as e:  # noqa: BLE001 - reported to the caller
            failed.append(f"{part} {type(obj).__name__} ({type(e).__name__}: {e})")
    return failed
