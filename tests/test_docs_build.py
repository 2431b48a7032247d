"""Set-up and docs build: the README's Quickstart commands and offline math in the built site.

The full site build (about 20 s) runs in ``.ci/run``; here a one-page site built with the math
settings of ``docs/conf.py`` checks that formulas load the MathJax served with the site.
"""

from __future__ import annotations

import re
import runpy
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CI_RUN = ROOT / ".ci" / "run"
DOCS = ROOT / "docs"

REMOTE_RESOURCE = re.compile(
    r'<(?:script|img|iframe)[^>]*\ssrc="(?:https?:)?//[^"]*"|<link[^>]*\shref="(?:https?:)?//[^"]*"'
)


def quickstart_commands() -> list[str]:
    """The non-empty lines of the first ```bash block under README's '## Quickstart'."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Quickstart"):]
    block = re.search(r"^```bash\n(.*?)^```", section, re.S | re.M)
    assert block, "README.md's Quickstart section has no ```bash block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_quickstart_has_the_two_commands():
    commands = quickstart_commands()
    assert len(commands) == 2, commands
    assert commands[0].startswith("pip install -e . ") and "xpgrad train" in commands[0]
    assert commands[1].endswith("pytest")


def _installs(run: str) -> tuple[bool, bool]:
    """Whether one ``pip install ...`` names (the project, the plugin)."""
    if not run.startswith("pip install"):
        return False, False
    args = [a.strip("'\"") for a in run.split()[2:]]
    project = any(a == "." or a.startswith(".[") for a in args)
    plugin = any(a.startswith(("./plugins/", "plugins/")) for a in args)
    return project, plugin


def test_plugin_is_installed_by_its_own_pip_run():
    # pip 23.2 (what `python3 -m venv` brings with Python 3.11) fails with "No matching
    # distribution found for xpgrad" when the project and the plugin that depends on it are
    # given to one `pip install`; the project must be installed first, in an earlier run.
    assert _installs('pip install -e ".[test]" ./plugins/xpgrad-extras') == (True, True)  # the old, broken form
    for command in quickstart_commands():
        runs = [run.strip() for run in command.split("&&")]
        for i, run in enumerate(runs):
            project, plugin = _installs(run)
            assert not (project and plugin), f"one pip run installs the project and the plugin: {run}"
            if plugin:
                assert any(_installs(r)[0] for r in runs[:i]), f"the plugin is installed before the project: {command}"


def test_ci_runs_the_readme_commands_as_written():
    script = CI_RUN.read_text(encoding="utf-8")
    assert "--upgrade pip" not in script and "-U pip" not in script, ".ci/run must not upgrade pip"
    mapfile = next(line for line in script.splitlines() if line.startswith("mapfile -t quickstart"))
    out = subprocess.run(
        ["bash", "-c", f'{mapfile}\nprintf "%s\\n" "${{quickstart[@]}}"'],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout
    assert out.splitlines() == quickstart_commands()


def test_remote_resource_pattern():
    # The pattern .ci/run greps the built site with, kept in step with this one.
    assert REMOTE_RESOURCE.search('<script defer="defer" src="https://cdn.jsdelivr.net/npm/mathjax@4/tex-mml-chtml.js">')
    assert REMOTE_RESOURCE.search('<link rel="stylesheet" href="//fonts.example.org/a.css" />')
    assert not REMOTE_RESOURCE.search('<script defer="defer" src="../_static/mathjax/tex-chtml.js"></script>')
    assert not REMOTE_RESOURCE.search('<a href="https://data-apis.org/array-api/">standard</a>')


def test_docs_math_is_served_with_the_site(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_parser")
    pytest.importorskip("sphinx-mathjax-offline", reason="docs extra not installed")
    from sphinx.application import Sphinx

    conf = runpy.run_path(str(DOCS / "conf.py"))
    assert "sphinx-mathjax-offline" in conf["extensions"]
    assert not re.match(r"(https?:)?//", conf["mathjax_path"]), conf["mathjax_path"]

    src = tmp_path / "src"
    src.mkdir()
    extensions = [e for e in conf["extensions"] if "math" in e or e == "myst_parser"]
    (src / "conf.py").write_text(
        f"extensions = {extensions!r}\n"
        f"myst_enable_extensions = {conf['myst_enable_extensions']!r}\n"
        f"mathjax_path = {conf['mathjax_path']!r}\n"
        f"html_theme = {conf['html_theme']!r}\n",
        encoding="utf-8",
    )
    (src / "index.md").write_text("# Page\n\nInline $x^2$ and\n\n$$\\frac{df}{dx}$$\n", encoding="utf-8")
    out = tmp_path / "html"
    app = Sphinx(str(src), str(src), str(out), str(tmp_path / "doctrees"), "html",
                 status=None, warning=None, freshenv=True)
    app.build()

    html = (out / "index.html").read_text(encoding="utf-8")
    assert 'class="math' in html
    assert f'src="_static/{conf["mathjax_path"]}"' in html
    assert not REMOTE_RESOURCE.findall(html)
    script = out / "_static" / conf["mathjax_path"]
    assert script.is_file() and script.stat().st_size > 100_000, "MathJax was not copied into the site"
    shutil.rmtree(out)
