"""Data contracts of reverse-o1: records, Arrow schemas, the seed format, ids.

This package imports nothing else of the project: every other layer builds on it.
"""

from schemas.arrow import PRM_SCHEMA, SFT_SCHEMA
from schemas.ids import content_id
from schemas.records import GeneratorInfo, PRMRow, Seed, SFTRow, Source, Step, Trajectory

__all__ = [
    "PRM_SCHEMA",
    "SFT_SCHEMA",
    "GeneratorInfo",
    "PRMRow",
    "SFTRow",
    "Seed",
    "Source",
    "Step",
    "Trajectory",
    "content_id",
]
