"""Only for Beam's ``--setup_file=./setup.py``: without the ``build`` module Beam's stager runs
``python setup.py sdist``. Everything is configured in pyproject.toml."""
from setuptools import setup

setup()
