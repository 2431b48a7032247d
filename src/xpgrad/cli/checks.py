"""Checks ``xpgrad train`` makes before any training starts.

Three families, each one mechanism for every case of it:

* :func:`parse_component_args` turns ``--KIND-args KEY=VALUE ...`` into keyword
  arguments (numbers, booleans, ``none``, comma-separated tuples), naming the
  offending token or key.
* :func:`input_file`, :func:`output_file`, :func:`output_dir` and
  :func:`optional_import` check every path option and optional dependency up
  front (exists, is a file or a folder as needed, can be written — by really
  creating and removing a temporary file), so a mistake costs nothing.
* :func:`activation_pieces`, :func:`loss_for_labels` and
  :func:`check_optimizer` try each chosen component on a two-row batch (and
  adapt it where a standard reading exists: maxout-style activations get
  wider layers, regression losses get one-hot targets) or refuse it with the
  reason.
"""

from __future__ import annotations

import importlib
import os
import re
import tempfile

__all__ = ["UsageError", "activation_pieces", "check_optimizer", "input_file", "loss_for_labels",
           "optional_import", "output_dir", "output_file", "parse_component_args"]

COMPONENT_KINDS = ("activation", "loss", "optimizer", "schedule", "regularizer")
# Keys set through their own options, never through --KIND-args.
RESERVED: dict[str, dict[str, str | None]] = {"optimizer": {"lr": "--lr", "parameters": None, "params": None},
            "schedule": {"total_steps": "--epochs and --batch-size", "warmup_steps": "--warmup", "optimizer": None},
            "regularizer": {"strength": "--reg"},
            "loss": {"reduction": None},
            "activation": {"x": None}}
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class UsageError(Exception):
    """A bad option or input: reported in one line with exit status 2."""


# -- --KIND-args KEY=VALUE ---------------------------------------------------------------------------

def _scalar(text: str):
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text.strip()


def parse_value(text: str):
    """``"3"`` -> 3, ``"1e-7"`` -> 1e-07, ``"true"`` -> True, ``"none"`` -> None, ``"0.9,0.99"`` -> (0.9, 0.99).

    A trailing comma makes a one-element tuple (``"30,"`` -> (30,)); anything
    else stays a string.

    >>> parse_value("0.9,0.99"), parse_value("30,"), parse_value("1e-7"), parse_value("abc")
    ((0.9, 0.99), (30,), 1e-07, 'abc')
    """
    if "," in text:
        return tuple(_scalar(part) for part in text.split(",") if part.strip() != "")
    return _scalar(text)


def parse_component_args(kind: str, tokens) -> dict:
    """The keyword arguments of ``--KIND-args`` tokens ``KEY=VALUE``; UsageError names the bad token or key.

    >>> parse_component_args("optimizer", ["betas=0.9,0.99", "eps=1e-7"])
    {'betas': (0.9, 0.99), 'eps': 1e-07}
    >>> parse_component_args("optimizer", ["lr=0.1"])
    Traceback (most recent call last):
    ...
    xpgrad.cli.checks.UsageError: --optimizer-args: key 'lr' is set with --lr, not here
    """
    option = f"--{kind}-args"
    kw: dict = {}
    for token in tokens or ():
        key, sep, text = str(token).partition("=")
        key = key.strip()
        if not sep or not _KEY.match(key) or text.strip() == "":
            raise UsageError(f"{option}: {token!r} is not KEY=VALUE (e.g. {option} "
                             f"{'betas=0.9,0.99 eps=1e-7' if kind == 'optimizer' else 'name=value'}); "
                             "tuples are comma-separated, a trailing comma makes a 1-tuple")
        if key in kw:
            raise UsageError(f"{option}: key {key!r} is given twice")
        if key in RESERVED.get(kind, {}):
            where = RESERVED[kind][key]
            raise UsageError(f"{option}: key {key!r} is set with {where}, not here" if where else
                             f"{option}: key {key!r} is set by xpgrad train itself and cannot be changed")
        kw[key] = parse_value(text)
    return kw


# -- paths and optional dependencies -------------------------------------------------------------------

def _probe_write(option: str, path: str, folder: str) -> None:
    """Create and remove a temporary file in ``folder``: the one reliable test (root ignores permission bits)."""
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".xpgrad-write-test-")
    except OSError as e:
        raise UsageError(f"{option} {path}: cannot write into folder {folder} ({e.strerror or e}); "
                         "choose a writable location") from None
    os.close(fd)
    os.unlink(tmp)


def _existing_ancestor(path: str) -> str:
    current = os.path.abspath(path)
    while not os.path.exists(current):
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return current


def input_file(option: str, path) -> str:
    """``path`` must be an existing, readable regular file (a folder is refused with the fix)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        example = os.path.join(path, "run.safetensors")
        raise UsageError(f"{option} {path} is a directory; give the file inside it (e.g. {example})")
    if not os.path.exists(path):
        raise UsageError(f"{option} {path} does not exist")
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        raise UsageError(f"{option} {path} cannot be read ({e.strerror or e})") from None
    return path


def output_file(option: str, path) -> str:
    """``path`` can be written: not a folder, in an existing folder that accepts new files."""
    path = os.fspath(path)
    if path == "" or os.path.isdir(path):
        raise UsageError(f"{option} {path!r} is a directory; give a file name (e.g. "
                         f"{os.path.join(path or '.', 'run.safetensors')})")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(folder):
        raise UsageError(f"{option} {path}: folder {folder} does not exist; create it first")
    if not os.path.isdir(folder):
        raise UsageError(f"{option} {path}: {folder} is a file, not a folder")
    _probe_write(option, path, folder)
    return path


def output_dir(option: str, path) -> str:
    """``path`` is a folder that exists and is writable, or one that can be created (its nearest parent is writable)."""
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"{option} {path} is a file; give a folder")
    base = _existing_ancestor(path)
    if not os.path.isdir(base):
        raise UsageError(f"{option} {path}: {base} is a file, so the folder cannot be created there")
    _probe_write(option, path, base)
    return path


def optional_import(option: str, modules, extra: str | None, *, package: str | None = None) -> None:
    """Import ``modules`` now, or refuse ``option`` naming the missing package and the extra (or package) to install."""
    how = f"pip install 'xpgrad[{extra}]'" if extra else f"pip install {package}"
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise UsageError(f"{option} needs {module.split('.')[0]} ({e}); install it with {how}") from None


# -- components tried on a two-row batch ------------------------------------------------------------

def _probe_batch(width: int):
    import numpy as np

    import xpgrad

    return xpgrad.as_tensor(np.linspace(-1.0, 1.0, 2 * width, dtype=np.float32).reshape(2, width))


def _out_width(fn, width):
    out = fn(_probe_batch(width))
    shape = tuple(getattr(out, "shape", ()))
    return shape[1] if len(shape) == 2 and shape[0] == 2 else None, shape


def activation_pieces(name: str, kw: dict, width: int, most: int = 16) -> int:
    """Inputs per output the activation needs between linear layers (1 if elementwise, ``pieces`` for maxout).

    The activation is tried on (2, width · p) batches for p = 1, 2, … ``most``;
    the first p that gives back (2, width) is the answer (the linear layer
    before it gets ``width · p`` outputs). If none does (an error, another
    shape), UsageError with the reason found at p = 1.
    """
    from .. import nn

    option = f"--activation {name}"
    try:
        layer = nn.Activation(name, **kw)
    except (TypeError, ValueError) as e:
        raise UsageError(f"{option}: {_one_line(e)} (set its parameters with --activation-args KEY=VALUE)") from None
    first = None
    for pieces in range(1, most + 1):
        try:
            got, shape = _out_width(layer, width * pieces)
        except Exception as e:  # noqa: BLE001 - whatever the component raises is the reason it is refused
            if first is None:
                first = e
            continue
        if got == width:
            return pieces
        if first is None:
            first = shape
    if isinstance(first, Exception):
        raise UsageError(f"{option}: fails on a batch of shape (2, {width}): {_one_line(first)} (set its "
                         "parameters with --activation-args KEY=VALUE)")
    raise UsageError(f"{option}: maps a batch of shape (2, {width}) to shape {first}, so it cannot sit between "
                     "linear layers; xpgrad train needs an activation that keeps the number of features or divides "
                     "it by a whole number (like maxout)")


class OneHotTargets:
    """A loss that takes dense targets, given class labels as one-hot rows of the scores' dtype.

    ``OneHotTargets(loss)(scores, y) = loss(scores, one_hot(y))`` where
    ``one_hot(y)[i, j] = 1`` if ``y[i] == j`` else 0: mean squared error and
    binary cross-entropy read as one-vs-rest regression on the class scores.
    """

    def __init__(self, loss):
        self.loss = loss
        self.__name__ = getattr(loss, "__name__", type(loss).__name__)

    def __call__(self, scores, targets):
        import xpgrad

        classes = xpgrad.arange(scores.shape[-1], dtype=targets.dtype, backend=targets.backend)
        return self.loss(scores, (xpgrad.reshape(targets, (-1, 1)) == classes).astype(scores.dtype))


def loss_for_labels(name: str, loss, scores, labels):
    """``loss`` itself when it takes class labels, else :class:`OneHotTargets` when it takes dense targets.

    Both forms are tried on ``scores`` (a small batch of the model's scores)
    and must give a finite scalar; otherwise UsageError with the reason.
    """
    import math

    errors = []
    for candidate in (loss, OneHotTargets(loss)):
        try:
            value = candidate(scores, labels)
            if tuple(value.shape) != ():
                raise ValueError(f"it returns shape {tuple(value.shape)}, not a scalar")
            if not math.isfinite(float(value)):
                raise ValueError(f"it returns {float(value)} on a test batch")
            return candidate
        except Exception as e:  # noqa: BLE001 - whatever the component raises is the reason it is refused
            errors.append(_one_line(e))
    raise UsageError(f"--loss {name}: takes neither integer class labels ({errors[0]}) nor one-hot targets "
                     f"({errors[1]}); choose a classification loss such as cross_entropy or svm")


def check_optimizer(name: str, optimizer) -> None:
    """Refuse optimizers that step only with a closure (random search): xpgrad train's loop takes gradient steps."""
    if getattr(optimizer, "needs_closure", False):
        raise UsageError(f"--optimizer {name}: it needs a closure that re-evaluates the loss at every step "
                         "(opt.step(closure)), which xpgrad train's gradient-step loop does not give; use it from "
                         "Python (see the optimizers guide) or choose a gradient optimizer such as sgd or adam")


def _one_line(message) -> str:
    return " ".join(str(message).split())
