"""Helpers that touch the system: never chosen by the pipeline (risky names)."""

import os


def home_directory():
    """The current user's home directory.

    >>> isinstance(home_directory(), str)
    True
    """
    return os.path.expanduser("~")
