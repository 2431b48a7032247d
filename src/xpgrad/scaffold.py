"""Write a ready-to-install plugin package: ``xpgrad plugin new NAME``.

The skeleton is a small distribution ``xpgrad-NAME`` with a ``src/`` layout,
an entry point in the ``xpgrad`` group, one example activation registered
through :data:`xpgrad.hookimpl`, and a test that runs
:func:`xpgrad.testing.check_activation` on it.
"""

from __future__ import annotations

import keyword
import os
import re
import shutil
import tempfile
from pathlib import Path

__all__ = ["new_plugin"]

_PYPROJECT = '''\
[build-system]
requires = ["setuptools>=68", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "xpgrad plugin {dist}"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["xpgrad"]

[project.optional-dependencies]
test = ["pytest>=8"]

# xpgrad loads the module named here and calls its @xpgrad.hookimpl functions.
[project.entry-points.xpgrad]
{ident} = "{package}.plugin"

[tool.setuptools.packages.find]
where = ["src"]
'''

_README = '''\
# {dist}

An xpgrad plugin. It registers the activation `{component}` (x / (1 + |x|)).

    pip install -e ".[test]"
    pytest

Add components in `src/{package}/plugin.py`: one `@xpgrad.hookimpl` function per kind
(`register_activations`, `register_losses`, `register_regularizers`, `register_optimizers`,
`register_schedules`), each calling `register(name, obj)`. Check them in your tests with
`xpgrad.testing.check_activation(name)` and its siblings.
'''

_INIT = '''\
"""{dist}: an xpgrad plugin."""

__version__ = "0.1.0"
'''

_PLUGIN = '''\
"""Components of {dist}; xpgrad finds this module through the entry point in pyproject.toml."""

import xpgrad


def softsign(x):
    """Softsign activation x / (1 + |x|): like tanh, but its tails approach ±1 polynomially.

    >>> import xpgrad
    >>> softsign(xpgrad.tensor([1.0, -3.0])).tolist()
    [0.5, -0.75]
    """
    return x / (1.0 + xpgrad.abs(x))


@xpgrad.hookimpl
def register_activations(register):
    register("{component}", softsign)
'''

_TEST = '''\
import xpgrad
from xpgrad import testing

from {package} import plugin


def _ensure_registered():
    """Use the installed entry point; fall back to registering in-process (e.g. before pip install)."""
    if "{component}" not in xpgrad.registry.activations:
        xpgrad.plugin_manager().register(plugin, name="{ident}")


def test_{ident}_softsign_values():
    _ensure_registered()
    f = xpgrad.activation("{component}")
    assert f(xpgrad.tensor([1.0, -3.0, 0.0])).tolist() == [0.5, -0.75, 0.0]


def test_{ident}_softsign_contract():
    _ensure_registered()
    assert testing.check_activation("{component}")
'''


def _identifier(name: str) -> str:
    ident = re.sub(r"[^0-9a-zA-Z]+", "_", name.strip().lower()).strip("_")
    if ident.startswith("xpgrad_"):
        ident = ident[len("xpgrad_"):]
    if not ident or ident[0].isdigit() or keyword.iskeyword(ident):
        raise ValueError(f"plugin name {name!r} does not give a usable Python name; use letters, digits, '-' or "
                         "'_', starting with a letter (e.g. 'my-activations')")
    return ident


def new_plugin(name: str, directory=".") -> Path:
    """Create the plugin package ``xpgrad-NAME`` inside ``directory``; return its root folder.

    Files written: ``pyproject.toml`` (with the ``xpgrad`` entry point),
    ``README.md``, ``src/xpgrad_NAME/__init__.py``, ``src/xpgrad_NAME/plugin.py``
    (an example activation ``NAME_softsign``) and ``tests/test_plugin.py``.
    Refuses to overwrite an existing folder (:class:`FileExistsError`). The
    files are written into a hidden folder in ``directory`` that is renamed
    into place at the end, so a failure (a read-only ``directory``:
    :class:`PermissionError`; a file in its place: another :class:`OSError`)
    leaves nothing behind.

    >>> import tempfile
    >>> root = new_plugin("my-acts", tempfile.mkdtemp())
    >>> root.name, sorted(p.name for p in root.iterdir())
    ('xpgrad-my-acts', ['README.md', 'pyproject.toml', 'src', 'tests'])
    """
    ident = _identifier(name)
    dist = "xpgrad-" + ident.replace("_", "-")
    package = "xpgrad_" + ident
    parent = Path(directory)
    root = parent / dist
    if root.exists():
        raise FileExistsError(f"{root} already exists; choose another name or directory, or remove it first")
    fields = {"dist": dist, "ident": ident, "package": package, "component": f"{ident}_softsign"}
    files = {
        "pyproject.toml": _PYPROJECT,
        "README.md": _README,
        f"src/{package}/__init__.py": _INIT,
        f"src/{package}/plugin.py": _PLUGIN,
        "tests/test_plugin.py": _TEST,
    }
    contents = {rel: template.format(**fields) for rel, template in files.items()}  # render all first
    if parent.exists() and not parent.is_dir():
        raise NotADirectoryError(f"{parent} is a file, not a folder")
    parent.mkdir(parents=True, exist_ok=True)
    # Everything goes into a hidden folder beside the target, renamed into place at the end: a read-only
    # folder, a full disk or an interruption leaves no half-written skeleton behind.
    staging = Path(tempfile.mkdtemp(dir=parent, prefix=f".{dist}-"))
    try:
        for rel, text in contents.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        staging.chmod(0o755)  # mkdtemp's folder is private (0700); give it the usual mode
        os.rename(staging, root)  # fails, without replacing anything, if root appeared meanwhile
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return root

