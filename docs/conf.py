"""Sphinx configuration for the xpgrad documentation (builds offline, warnings as errors)."""

from __future__ import annotations

import importlib
import re
import shutil
from pathlib import Path

import xpgrad

project = "xpgrad"
author = "The xpgrad developers"
copyright = "2026, The xpgrad developers"
version = release = xpgrad.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # ships MathJax 3 with the site: formulas render with no network
    "numpydoc",
    "myst_parser",
    "sphinx_copybutton",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "scripts", "Thumbs.db", ".DS_Store", "**/README.md"]
templates_path = ["_templates"]

# Markdown: $...$ math, ::: fences, anchors for the headings of every page.
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# Math: MathJax is served from the site's own _static/mathjax/ (copied there by
# sphinx-mathjax-offline after the build), never from a CDN, so the pages render offline.
# Stated here as well as in the extension so that a reader sees where the script comes from;
# tests/test_docs_build.py checks that no page loads a remote script.
mathjax_path = "mathjax/tex-chtml.js"

# API reference: stubs are regenerated on every build into api/generated/ (git-ignored).
autosummary_generate = True
autosummary_imported_members = True
autosummary_ignore_module_all = False
autodoc_typehints = "none"  # numpydoc docstrings state the types; annotations would need intersphinx
autodoc_member_order = "bysource"
numpydoc_show_class_members = False  # the class template lists members through autodoc instead
numpydoc_class_members_toctree = False

# Offline: no intersphinx. Nitpicky mode (-n) then reports every reference that has no target;
# references into other libraries (numpy.ndarray, ...) have none here, so only those are exempt.
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|cupy|cupyx|array_api_strict|array_api_compat|contextvars|pluggy|matplotlib|tqdm"
               r"|safetensors|importlib|pathlib|os|pickle|json|collections\.abc)(\..+)?"),
]
html_theme = "pydata_sphinx_theme"
html_title = f"xpgrad {release}"
html_static_path = ["_static"]
html_css_files = ["xpgrad.css"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 6,
}
html_sidebars = {"index": []}
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True

# -- pages that other parts of the project add ---------------------------------------------
# benchmarks.md (performance work) and guide/*.md (one page per feature) land over time. A
# toctree entry for a missing page is a warning, so pages list such entries between
# "<!-- optional-start -->" and "<!-- optional-end -->": entries whose file is missing are
# dropped, and a pattern such as guide/* becomes the matching pages in reading order.
_OPTIONAL = re.compile(r"<!-- optional-start -->\n(.*?)<!-- optional-end -->\n", re.S)
READING_ORDER = ["layers", "activations", "losses", "regularizers", "optimizers", "schedules", "data",
                 "training", "plots", "cli", "plugins"]


def _reading_key(docname: str):
    stem = docname.rsplit("/", 1)[-1]
    return (READING_ORDER.index(stem) if stem in READING_ORDER else len(READING_ORDER), stem)


def _expand_optional(app, docname, source):
    here = (Path(app.srcdir) / docname).parent  # toctree entries are relative to the page

    def entries(block: str):
        for line in block.splitlines():
            pattern = line.strip()
            if not pattern:
                continue
            found = [p.relative_to(here).with_suffix("").as_posix() for p in here.glob(pattern + ".md")]
            yield from sorted(found, key=_reading_key)

    source[0] = _OPTIONAL.sub(lambda m: "".join(e + "\n" for e in entries(m.group(1))), source[0])


# -- every public name must appear in the API reference ------------------------------------
# (module, page): the names in ``module.__all__`` must be listed in an autosummary on ``page``.
# A module that is not importable yet (a feature still being written) is skipped.
PUBLIC_MODULES = {
    "xpgrad": None,  # top level: listed across the api/*.md pages
    "xpgrad.backend": "api/backends.md",
    "xpgrad.nn": "api/nn.md",
    "xpgrad.nn.init": "api/nn.md",
    "xpgrad.data": "api/data.md",
    "xpgrad.registry": "api/registry.md",
    "xpgrad.hookspecs": "api/registry.md",
    "xpgrad.scaffold": "api/registry.md",
    "xpgrad.activations": "api/components.md",
    "xpgrad.losses": "api/components.md",
    "xpgrad.regularizers": "api/components.md",
    "xpgrad.optimizers": "api/components.md",
    "xpgrad.schedules": "api/components.md",
    "xpgrad.testing": "api/testing.md",
    "xpgrad.train": "api/train.md",
    "xpgrad.checkpoint": "api/train.md",
    "xpgrad.plot": "api/plot.md",
    "xpgrad.array_api": "api/array_api.md",
    "xpgrad.array_api.linalg": "api/array_api.md",
    "xpgrad.array_api.fft": "api/array_api.md",
}


def _listed_names(srcdir: Path, pages) -> set[str]:
    names = set()
    for page in pages:
        text = (srcdir / page).read_text(encoding="utf-8")
        module = "xpgrad"
        for line in text.splitlines():
            m = re.match(r"\s*\.\. (current|auto)?module:: (\S+)", line)
            if m:
                module = m.group(2)
                if m.group(1) != "current":
                    names.add(module)  # the module itself is documented here
            m = re.match(r"\s{3,}~?([\w.]+)\s*$", line)
            if m and not line.lstrip().startswith(":"):
                names.add(f"{module}.{m.group(1)}")
    return names


def _resolve(fullname: str):
    """The object a dotted name refers to, or None."""
    parts = fullname.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except Exception:
            return None
        return obj
    return None


def _check_api_complete(app, env, docnames):
    from sphinx.util import logging

    log = logging.getLogger("xpgrad.docs")
    srcdir = Path(app.srcdir)
    pages = sorted(str(p.relative_to(srcdir)) for p in (srcdir / "api").glob("*.md"))
    listed = _listed_names(srcdir, pages)
    # A name counts as documented when the same object is listed under the same short name
    # anywhere (xpgrad.save is documented as xpgrad.checkpoint.save, for example).
    documented = {(full.rsplit(".", 1)[-1], id(obj)) for full in listed if (obj := _resolve(full)) is not None}
    for modname, page in PUBLIC_MODULES.items():
        try:
            mod = importlib.import_module(modname)
        except ImportError:
            continue  # a feature that has not landed yet
        public = getattr(mod, "__all__", None)
        if public is None:
            continue
        if page is not None and not (srcdir / page).exists():
            log.warning(f"{modname} is public but has no API page: create docs/{page} with an autosummary "
                        f"of its names (see docs/api/index.md)")
            continue
        # Data (constants, dtypes) cannot be autosummarised: a mention as `name` on the page counts.
        text = (srcdir / page).read_text(encoding="utf-8") if page else ""
        missing = []
        for name in public:
            if f"`{name}`" in text:
                continue
            try:
                obj = getattr(mod, name)
            except Exception:
                continue  # lazily exported from a module that has not landed yet
            if f"{modname}.{name}" not in listed and (name, id(obj)) not in documented:
                missing.append(name)
        if missing:
            where = f"docs/{page}" if page else "an autosummary under docs/api/"
            log.warning(f"public names of {modname} missing from the API reference: {', '.join(missing)}; "
                        f"list them in {where}")


def _reread_optional_hosts(app, env, added, changed, removed):
    # pages with optional entries must be re-read when a page lands, even in incremental builds
    return [d for d in ("index", "user-guide") if d in env.found_docs]


def _alias_other_homes(app, env):
    """Let references to a documented object under any public module name resolve.

    ``xpgrad.save`` is documented once, at the top level; docstrings inside
    ``xpgrad.checkpoint`` call it ``save`` (that is, ``xpgrad.checkpoint.save``). Each
    documented public object therefore also answers to its name in every public module that
    exports it, as the ``:canonical:`` option does for classes.
    """
    py = env.get_domain("py")
    modules = {}
    for modname in PUBLIC_MODULES:
        try:
            modules[modname] = importlib.import_module(modname)
        except ImportError:
            continue
    for fullname, entry in list(py.objects.items()):
        if not fullname.startswith("xpgrad.") or entry.aliased:
            continue
        short = fullname.rsplit(".", 1)[-1]
        obj = _resolve(fullname)
        if obj is None:
            continue
        for modname, mod in modules.items():
            alias = f"{modname}.{short}"
            if alias not in py.objects and getattr(mod, short, None) is obj:
                py.objects[alias] = entry._replace(aliased=True)


def _fresh_stubs(app):
    # Regenerate every API stub on each build, so a renamed or removed name leaves no stale page.
    shutil.rmtree(Path(app.srcdir) / "api" / "generated", ignore_errors=True)


def setup(app):
    app.connect("builder-inited", _fresh_stubs, priority=100)  # before autosummary writes the stubs
    app.connect("env-updated", _alias_other_homes)
    app.connect("source-read", _expand_optional)
    app.connect("env-get-outdated", _reread_optional_hosts)
    app.connect("env-before-read-docs", _check_api_complete)
    return {"parallel_read_safe": True}
