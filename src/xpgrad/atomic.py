"""Atomic file writes, and removal of the temporary files that killed writers leave behind.

:func:`write_atomic` (re-exported by :mod:`xpgrad.checkpoint`) writes to a
hidden temporary file next to the target and renames it over the target. A
writer killed with ``SIGKILL`` (or a machine that loses power) between the two
leaves that temporary file behind; :func:`remove_stale_temps` removes such
files of one target, and runs before every write (and every checkpoint load).

A temporary file is named ``.NAME.HOST-PID-RANDOM.tmp``: ``HOST`` is a short
tag of the machine's host name and ``PID`` the writer's process id. It counts
as stale when it comes from this machine and no process with that id is alive
any more, or (for files from other machines on a shared file system, files
named before this scheme, or a process id reused since) when it was last
written more than :data:`STALE_AFTER_S` seconds ago. A live writer's file is
never removed: it is younger than that, and its process exists.
"""

from __future__ import annotations

import os
import re
import socket
import time
import zlib

__all__ = ["STALE_AFTER_S", "remove_stale_temps", "write_atomic"]

STALE_AFTER_S = 3600.0  # no writer spends an hour between two writes to its temporary file

_HOST = f"{zlib.crc32(socket.gethostname().encode('utf-8', 'replace')):08x}"


def write_atomic(path, data: bytes) -> str:
    """Write ``data`` to ``path`` so that readers see either the old file or the complete new one.

    The bytes go to a temporary file in the same directory, which is flushed,
    ``fsync``-ed and then renamed over ``path`` with :func:`os.replace` (atomic
    on POSIX and Windows); the directory is ``fsync``-ed too where possible.
    Stale temporary files of the same target left by killed writers are
    removed first (see :func:`remove_stale_temps`).

    Returns the path as a string.

    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "hello.txt")
    >>> write_atomic(p, b"hi") == p, open(p, "rb").read()
    (True, b'hi')
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot write {path!r}: directory {directory!r} does not exist; create it first")
    remove_stale_temps(path)
    fd, tmp = _create_temp(directory, os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable; not possible on every OS/filesystem
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    return path


def _create_temp(directory, name):
    """Create a new hidden temporary file next to the target; mode 0o666 minus the umask, like open()."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(directory, f".{name}.{_HOST}-{os.getpid()}-{os.urandom(4).hex()}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file in {directory!r}")


def _pid_is_dead(pid: int) -> bool:
    """True only when no process ``pid`` exists on this machine (never guessed: unknown means alive)."""
    if os.name != "posix" or pid <= 0 or pid == os.getpid():
        return False  # on Windows os.kill would terminate the process; our own pid may be another thread
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: it exists, owned by someone else
        return False
    return False


def remove_stale_temps(path) -> list[str]:
    """Remove the temporary files of ``path`` left by writers that died; return the paths removed.

    Only files named like this module's temporary files *of this target*
    are considered, and only stale ones go (see the module docstring). Errors
    (a read-only directory, a file another process removed first) are
    ignored: cleaning up never makes a save or a load fail.

    >>> import os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> stray = os.path.join(d, ".c.safetensors.00000000-999999999-0a0b0c0d.tmp")  # an old writer's leftover
    >>> open(stray, "wb").close(); os.utime(stray, (0, 0))
    >>> [os.path.basename(p) for p in remove_stale_temps(os.path.join(d, "c.safetensors"))]
    ['.c.safetensors.00000000-999999999-0a0b0c0d.tmp']
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    pattern = re.compile(r"\." + re.escape(os.path.basename(path))
                         + r"\.(?:([0-9a-f]{8})-([0-9]+)-[0-9a-f]{8}|[0-9a-f]{8})\.tmp")
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    removed = []
    now = time.time()
    for name in names:
        m = pattern.fullmatch(name)
        if m is None:
            continue
        tmp = os.path.join(directory, name)
        try:
            dead = m.group(1) == _HOST and _pid_is_dead(int(m.group(2)))
            if dead or now - os.stat(tmp).st_mtime > STALE_AFTER_S:
                os.unlink(tmp)
                removed.append(tmp)
        except (OSError, ValueError, OverflowError):
            continue
    return removed
