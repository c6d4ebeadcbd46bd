"""Arrow schemas of the Parquet shards (SPEC "Rows"); column order is part of the contract."""

from __future__ import annotations

import pyarrow as pa

SOURCE_TYPE = pa.struct(
    [
        ("uri", pa.string()),
        ("commit", pa.string()),
        ("path", pa.string()),
        ("symbol", pa.string()),
        ("license", pa.string()),
        ("dataset_license", pa.string()),  # nullable; added after 0.1.0 (see schemas.records.Source)
    ]
)

GENERATOR_TYPE = pa.struct(
    [
        ("backend", pa.string()),
        ("model", pa.string()),
        ("temperature", pa.float64()),
        ("seed", pa.int64()),
        ("prompt_version", pa.string()),
    ]
)

STEP_TYPE = pa.struct([("text", pa.string()), ("factor", pa.string())])
MESSAGE_TYPE = pa.struct([("role", pa.string()), ("content", pa.string())])

SFT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("source_kind", pa.string()),
        ("source", SOURCE_TYPE),
        ("problem", pa.string()),
        ("steps", pa.list_(STEP_TYPE)),
        ("answer", pa.string()),
        ("messages", pa.list_(MESSAGE_TYPE)),
        ("verified", pa.bool_()),
        ("verifier", pa.string()),
        ("verifier_detail", pa.string()),
        ("generator", GENERATOR_TYPE),
    ]
)

PRM_SCHEMA = pa.schema(
    [
        ("prompt", pa.string()),
        ("completions", pa.list_(pa.string())),
        ("labels", pa.list_(pa.bool_())),
        ("soft_labels", pa.list_(pa.float64())),
        ("rollouts", pa.list_(pa.int64())),
        ("correct_rollouts", pa.list_(pa.int64())),
        ("method", pa.string()),
        ("answer_correct", pa.bool_()),
        ("id", pa.string()),
        ("source_kind", pa.string()),
        ("source", SOURCE_TYPE),
        ("generator", GENERATOR_TYPE),
    ]
)

SCHEMAS: dict[str, pa.Schema] = {"sft": SFT_SCHEMA, "prm": PRM_SCHEMA}
