"""Import time of the package (no plugins are loaded at import)."""


def timeraw_import_xpgrad():
    return "import xpgrad"


def timeraw_import_and_first_registry_use():
    return "import xpgrad; xpgrad.registry.activations"
