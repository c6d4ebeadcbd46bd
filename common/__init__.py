"""The bottom layer: what every layer may import (the user-error type, the cache folder)."""
