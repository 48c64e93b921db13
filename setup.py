"""Installs the repository's top-level folders under the one import namespace ``sigkit``."""
from setuptools import find_packages, setup

DOMAINS = {"sigkit": "sigkit", "sigkit.audio": "audio", "sigkit.vision": "vision",
           "sigkit.ultrasound": "ultrasound", "sigkit.events": "events", "sigkit.kernels": "kernels"}

packages, package_dir = [], {}
for name, folder in DOMAINS.items():
    package_dir[name] = folder
    packages += [name] + [f"{name}.{sub}" for sub in find_packages(folder)]

setup(packages=packages, package_dir=package_dir)
