"""Code as input: git repositories, hostile archives, Python functions and their tests."""
