"""Map the top-level edge/, broker/ and central/ folders to ``linetrace.*`` import names.

The product's design keeps its three parts at the top of the tree, but they are imported
only as ``linetrace.edge``, ``linetrace.broker`` and ``linetrace.central``. pyproject.toml
can map a folder to a package name (``package-dir``) but cannot find the sub-packages
under a mapped folder by itself, so this file lists them from the tree: a new
sub-package needs no edit here. Everything else lives in pyproject.toml.
"""

from setuptools import find_packages, setup

PARTS = {
    "linetrace": "linetrace",
    "linetrace.edge": "edge",
    "linetrace.broker": "broker",
    "linetrace.central": "central",
}


def _packages() -> list[str]:
    found = []
    for name, folder in PARTS.items():
        found.append(name)
        found += [f"{name}.{sub}" for sub in find_packages(folder)]
    return found


setup(package_dir=PARTS, packages=_packages())
