"""tinytext: small text and number helpers."""

__version__ = "0.1.0"
