"""MNIST (IDX files) and CIFAR-10 (the "python version" batches) from a local directory.

Both loaders return host NumPy arrays ``(X, y)``: ``X`` float32 with pixel
values scaled to [0, 1], ``y`` int64 class labels. With ``download=True`` the
official archives are fetched (checked against their published MD5 sums)
when the files are absent and a network is reachable.

CIFAR-10 batches are Python pickles. They are read with a restricted
unpickler that only rebuilds dicts, lists, strings, numbers and plain
(non-object) NumPy arrays, so a doctored file cannot run code.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import pickle
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

__all__ = ["CIFAR10_CLASSES", "DatasetError", "DatasetNotFoundError", "UnsafePickleError", "load_cifar10",
           "load_mnist", "read_cifar10_batch", "read_idx"]

MNIST_FILES = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
               False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/")
MNIST_MD5 = {"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
             "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
             "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
             "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"}
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_DIR = "cifar-10-batches-py"
CIFAR10_FILES = {True: tuple(f"data_batch_{i}" for i in range(1, 6)), False: ("test_batch",)}
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

# IDX type byte -> big-endian NumPy dtype.
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DatasetNotFoundError(FileNotFoundError):
    """The files of a dataset are not where the loader looked (the message lists them)."""


class DatasetError(ValueError):
    """A dataset file is damaged or outside its documented format; the message names the file.

    Raised for IDX files with a wrong magic number, sizes that do not match the
    file's length, values outside the dataset's range (MNIST labels 0 … 9,
    pixels stored as unsigned bytes) and for CIFAR-10 batches that are not
    readable pickles of the documented layout. A :class:`ValueError`, so code
    written against earlier versions still catches it.
    """


class UnsafePickleError(DatasetError, pickle.UnpicklingError):
    """A pickle asked for something a CIFAR-10 batch never contains, or forged data NumPy cannot rebuild.

    Nothing from the file is used; the message names the file. Also a
    :class:`DatasetError` and a :class:`pickle.UnpicklingError`.
    """


# -- MNIST -----------------------------------------------------------------------------------------

def read_idx(path) -> np.ndarray:
    """Read one IDX file (plain or gzip-compressed) into a NumPy array of its stored dtype and shape.

    The format: two zero bytes, a type byte (0x08 = unsigned byte, ...), the
    number of dimensions, each dimension as a big-endian 32-bit integer, then
    the values in C order.

    >>> import gzip, tempfile, os
    >>> raw = bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9])
    >>> path = os.path.join(tempfile.mkdtemp(), "labels-idx1-ubyte.gz")
    >>> with gzip.open(path, "wb") as f:
    ...     _ = f.write(raw)
    >>> read_idx(path).tolist()
    [7, 8, 9]
    """
    path = Path(path)
    if path.is_dir():
        raise DatasetError(f"{path} is a directory, not an IDX file")
    blob = path.read_bytes()
    if blob[:2] == b"\x1f\x8b":  # gzip magic, whatever the file is called
        try:
            blob = gzip.decompress(blob)
        except Exception as e:  # noqa: BLE001 - OSError, EOFError, zlib.error: name the file, never a raw error
            raise DatasetError(f"{path}: damaged gzip file ({type(e).__name__}: {e}); delete it and download it "
                               "again") from None
    if len(blob) < 4 or blob[:2] != b"\x00\x00" or blob[2] not in _IDX_TYPES:
        raise DatasetError(f"{path} is not an IDX file (header {blob[:4]!r}); expected the MNIST format "
                           "from the official files such as train-images-idx3-ubyte")
    ndim = blob[3]
    header = 4 + 4 * ndim
    if len(blob) < header:
        raise DatasetError(f"{path}: the header declares {ndim} dimensions ({header} header bytes) but the file "
                           f"holds {len(blob)} bytes; it is truncated or corrupt")
    shape = tuple(int.from_bytes(blob[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_TYPES[blob[2]])
    count = math.prod(shape)  # Python integers: a forged header cannot overflow the size check
    if len(blob) != header + count * dtype.itemsize:
        raise DatasetError(f"{path}: the header promises shape {shape} ({count * dtype.itemsize} bytes of data) "
                           f"but the file holds {len(blob) - header}; it is truncated or corrupt")
    data = np.frombuffer(blob, dtype=dtype, count=count, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def _find(root: Path, names, subdirs):
    """Path of the first existing ``name`` or ``name.gz`` under ``root`` or one of its ``subdirs``."""
    for d in [root, *(root / s for s in subdirs)]:
        for name in names:
            for candidate in (name, name + ".gz", name.replace("-idx", ".idx")):
                if (d / candidate).is_file():
                    return d / candidate
    return None


def load_mnist(root, train: bool = True, download: bool = False, flatten: bool = True):
    """Load the MNIST digits from the IDX files in ``root``.

    Looks for ``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte``
    (or ``t10k-*`` for ``train=False``), each plain or with ``.gz``, in
    ``root`` or ``root/MNIST/raw``.

    Parameters
    ----------
    root : str or path
        Directory of the files (created when downloading).
    train : bool
        The 60 000 training images, or else the 10 000 test images.
    download : bool
        Fetch the missing ``.gz`` files from a mirror first.
    flatten : bool
        Return images as rows of 784 pixels (default) or as (N, 28, 28).

    Returns
    -------
    X : numpy.ndarray, float32 in [0, 1], shape (N, 784) or (N, 28, 28)
    y : numpy.ndarray, int64, shape (N,)

    Raises
    ------
    DatasetNotFoundError
        When the files are absent; the message names them and the directory.
    DatasetError
        When a file is not an IDX file of unsigned bytes, is truncated, its
        image and label counts differ, or a label is outside 0 … 9; the
        message names the file.

    Examples
    --------
    >>> import tempfile
    >>> load_mnist(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    xpgrad.data.files.DatasetNotFoundError: MNIST training files not found in ...
    """
    root = Path(root).expanduser()
    names = MNIST_FILES[bool(train)]
    paths = [_find(root, [n], ["MNIST/raw", "mnist"]) for n in names]
    if None in paths and download:
        for name, path in zip(names, paths, strict=True):
            if path is None:
                _download_any([m + name + ".gz" for m in MNIST_MIRRORS], root / (name + ".gz"), MNIST_MD5[name + ".gz"])
        paths = [_find(root, [n], ["MNIST/raw", "mnist"]) for n in names]
    if None in paths:
        missing = [n for n, p in zip(names, paths, strict=True) if p is None]
        raise DatasetNotFoundError(
            f"MNIST {'training' if train else 'test'} files not found in {root}: missing "
            f"{', '.join(missing)} (each may also end in .gz). Download them from {MNIST_MIRRORS[0]} into that "
            "directory, or pass download=True.")
    images, labels = (read_idx(p) for p in paths)
    for p, array, ndim in ((paths[0], images, 3), (paths[1], labels, 1)):
        if array.dtype != np.uint8 or array.ndim != ndim:
            raise DatasetError(f"{p}: MNIST stores unsigned bytes in {ndim} dimension(s), this file holds "
                               f"{array.dtype} values of shape {array.shape}")
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(f"MNIST files {paths[0]} and {paths[1]} do not match: {images.shape[0]} images but "
                           f"{labels.shape[0]} labels")
    _check_labels(paths[1], labels, 10)
    X = images.astype(np.float32) / np.float32(255.0)
    if flatten:
        X = X.reshape(X.shape[0], -1)
    return X, labels.astype(np.int64)


def _check_labels(path, labels, classes):
    """Refuse labels outside [0, classes), naming the file, the first bad label and its position."""
    bad = np.flatnonzero((labels < 0) | (labels >= classes))
    if bad.size:
        i = int(bad[0])
        raise DatasetError(f"{path}: label {int(labels[i])} at position {i} is outside 0 … {classes - 1} "
                           f"({bad.size} such labels); the file is corrupt")


# -- CIFAR-10 --------------------------------------------------------------------------------------

def _safe_dtype(*args):
    dt = np.dtype(*args)
    if dt.hasobject:
        raise UnsafePickleError("refusing to rebuild a NumPy array of Python objects (dtype 'O'): "
                                     "CIFAR-10 batches hold only numeric arrays")
    return dt


_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]  # numpy's array-rebuilding function, whatever its module
_ALLOWED = {("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
            ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): _safe_dtype}


class _CifarUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds only plain containers and numeric NumPy arrays."""

    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to load {module}.{name}: a CIFAR-10 batch only contains dicts, lists, strings and "
                "NumPy arrays, so this file is not one (it may be malicious)") from None


def read_cifar10_batch(path):
    """Read one CIFAR-10 batch file (such as ``data_batch_1``) with the restricted unpickler.

    Returns ``(data, labels)``: uint8 pixels of shape (N, 3072) — the 1024
    red, then green, then blue values of a 32×32 image — and int64 labels.
    Raises :class:`UnsafePickleError` (a :class:`pickle.UnpicklingError` and a
    :class:`DatasetError`) for a pickle that asks for anything beyond plain
    containers and numeric arrays, or whose arrays NumPy cannot rebuild (a
    forged file), and :class:`DatasetError` (a :class:`ValueError`) for a
    truncated file, another layout or labels outside 0 … 9. Every message
    names the file.
    """
    path = Path(path)
    if path.is_dir():
        raise DatasetError(f"{path} is a directory, not a CIFAR-10 batch file")
    with open(path, "rb") as f:
        try:
            batch = _CifarUnpickler(f, encoding="latin1").load()  # the batches were pickled by Python 2
        except UnsafePickleError as e:
            raise UnsafePickleError(f"{path}: {e}") from None
        except (pickle.UnpicklingError, EOFError) as e:
            raise DatasetError(f"{path} is not a readable CIFAR-10 batch ({type(e).__name__}: {e}); it is "
                               "truncated or damaged") from None
        except Exception as e:  # noqa: BLE001 - forged arguments to NumPy's rebuilders (SystemError, ...)
            raise UnsafePickleError(f"{path}: the pickle's contents cannot be rebuilt as a CIFAR-10 batch "
                                    f"({type(e).__name__}: {_short(e)}); it was not loaded (it may be "
                                    "malicious)") from None
    if not isinstance(batch, dict):
        raise DatasetError(f"{path}: expected a dict with 'data' and 'labels', got {type(batch).__name__}")
    batch = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise DatasetError(f"{path}: a CIFAR-10 batch needs keys 'data' and 'labels', found "
                           f"{sorted(map(str, batch))}")
    try:
        data = np.asarray(batch["data"])
        labels = np.asarray(batch["labels"])
    except Exception as e:  # noqa: BLE001 - ragged lists, forged arrays: never a raw NumPy error
        raise DatasetError(f"{path}: 'data' and 'labels' are not arrays ({type(e).__name__}: {_short(e)})") from None
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DatasetError(f"{path}: expected uint8 data of shape (N, 3072), got {data.dtype} {data.shape}")
    if labels.ndim != 1 or labels.dtype.kind not in "iu" or labels.shape[0] != data.shape[0]:
        raise DatasetError(f"{path}: expected {data.shape[0]} integer labels, got {labels.dtype} {labels.shape}")
    _check_labels(path, labels, len(CIFAR10_CLASSES))
    return data, labels.astype(np.int64)


def _short(e, limit=200) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= limit else text[:limit] + " …"


def load_cifar10(root, train: bool = True, download: bool = False, flatten: bool = True):
    """Load CIFAR-10 from the "python version" batches under ``root``.

    Looks for ``data_batch_1`` … ``data_batch_5`` (or ``test_batch`` for
    ``train=False``) in ``root/cifar-10-batches-py`` or in ``root`` itself.

    Parameters
    ----------
    root : str or path
        Directory holding ``cifar-10-batches-py`` (created when downloading).
    train : bool
        The 50 000 training images, or else the 10 000 test images.
    download : bool
        Fetch and unpack ``cifar-10-python.tar.gz`` first when files are missing.
    flatten : bool
        Return rows of 3072 values in the file's order (all red, then green,
        then blue pixels), or images of shape (N, 3, 32, 32).

    Returns
    -------
    X : numpy.ndarray, float32 in [0, 1]
    y : numpy.ndarray, int64 labels 0 … 9 (names in :data:`CIFAR10_CLASSES`)

    Examples
    --------
    >>> import tempfile
    >>> load_cifar10(tempfile.mkdtemp(), train=False)
    Traceback (most recent call last):
    ...
    xpgrad.data.files.DatasetNotFoundError: CIFAR-10 test files not found in ...
    """
    root = Path(root).expanduser()
    names = CIFAR10_FILES[bool(train)]

    def locate():
        for d in (root / CIFAR10_DIR, root):
            if all((d / n).is_file() for n in names):
                return d
        return None

    folder = locate()
    if folder is None and download:
        archive = root / "cifar-10-python.tar.gz"
        if not archive.is_file():
            _download_any([CIFAR10_URL], archive, CIFAR10_MD5)
        _extract(archive, root)
        folder = locate()
    if folder is None:
        here = root / CIFAR10_DIR
        missing = [n for n in names if not (here / n).is_file() and not (root / n).is_file()]
        raise DatasetNotFoundError(
            f"CIFAR-10 {'training' if train else 'test'} files not found in {here} (or {root}): missing "
            f"{', '.join(missing)}. Unpack {CIFAR10_URL} into {root}, or pass download=True.")
    parts = [read_cifar10_batch(folder / n) for n in names]
    data = np.concatenate([p[0] for p in parts])
    X = data.astype(np.float32) / np.float32(255.0)
    if not flatten:
        X = X.reshape(-1, 3, 32, 32)
    return X, np.concatenate([p[1] for p in parts])


# -- downloading -----------------------------------------------------------------------------------

def _md5(path: Path) -> str:
    h = hashlib.md5()  # noqa: S324 - the published checksums are MD5; this checks integrity only
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _download_any(urls, dest: Path, md5: str) -> None:
    """Fetch the first URL that works into ``dest`` (atomically), checking its MD5 sum."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    for url in urls:
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310
                for block in iter(lambda: resp.read(1 << 20), b""):
                    out.write(block)
            got = _md5(Path(tmp))
            if got != md5:
                raise OSError(f"checksum mismatch (md5 {got}, expected {md5})")
            os.replace(tmp, dest)
            return
        except (OSError, urllib.error.URLError) as e:
            errors.append(f"{url}: {e}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    raise DatasetNotFoundError(f"could not download {dest.name} into {dest.parent} (is there a network?): "
                               + "; ".join(errors) + ". Copy the file there by hand instead.")


def _extract(archive: Path, root: Path) -> None:
    """Unpack regular files of the CIFAR-10 archive below ``root``, refusing paths that leave it."""
    try:
        tar = tarfile.open(archive, "r:gz")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DatasetError(f"{archive}: not a readable .tar.gz archive ({e}); delete it and download it "
                           "again") from None
    with tar:
        members = []
        for m in tar.getmembers():
            target = (root / m.name).resolve()
            if not (m.isfile() or m.isdir()) or root.resolve() not in (target, *target.parents):
                raise DatasetError(f"{archive}: refusing to extract {m.name!r} (not a regular file inside {root})")
            members.append(m)
        if hasattr(tarfile, "data_filter"):
            tar.extractall(root, members=members, filter="data")
        else:  # pragma: no cover - Python without extraction filters; members were checked above
            tar.extractall(root, members=members)  # noqa: S202

