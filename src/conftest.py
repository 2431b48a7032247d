"""pytest's setup for the doctests of the package's modules.

Under ``--import-mode=importlib`` pytest executes a file it collects as a new module object unless that
module is already in ``sys.modules``. A module collected before the package has imported it therefore
runs twice when the package imports it later, and the two copies hold separate state: the optimizers
read a ``tracing.active`` that ``xpgrad.compile`` never set, and the built-in components register
twice. So every module of the package is imported here, before collection, and pytest collects those
very modules (``__main__`` aside: importing it runs the command line).
"""

import importlib
import pkgutil

import xpgrad

for _module in pkgutil.walk_packages(xpgrad.__path__, "xpgrad."):
    if not _module.name.endswith("__main__"):
        importlib.import_module(_module.name)
