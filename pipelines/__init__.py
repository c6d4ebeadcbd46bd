"""Beam pipelines of reverse-o1, their shared I/O, and the ``reverse-o1`` command line."""
