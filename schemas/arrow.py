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

# A step of an MCTS trajectory that is a node of its search tree (None for other steps): its id,
# its parent's, its mean value Q in [-1, 1] and visits when the search ended, and its prior (the policy's
# share among its siblings; null for the root) (``expand`` only).
NODE_TYPE = pa.struct([("id", pa.string()), ("parent", pa.string()), ("q", pa.float64()), ("visits", pa.int64()),
                       ("prior", pa.float64())])
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
        ("truncated", pa.bool_()),  # nullable; added after 0.1.0: a CoT cut at the token cap, kept (see SFTRow)
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
        ("nodes", pa.list_(NODE_TYPE)),  # nullable; added after 0.1.0 (``expand``'s tree, for step pairs)
    ]
)

SCHEMAS: dict[str, pa.Schema] = {"sft": SFT_SCHEMA, "prm": PRM_SCHEMA}

# ``reverse-o1 export pairs``: TRL's preference columns first (``prompt``, ``chosen``, ``rejected``), then
# where each side came from and its value. Trajectory pairs are conversational (lists of messages, as
# the SFT rows they come from); step pairs are plain text: the problem and the prefix as the prompt,
# one candidate next step as each completion.
TRAJECTORY_PAIR_SCHEMA = pa.schema(
    [
        ("prompt", pa.list_(MESSAGE_TYPE)),
        ("chosen", pa.list_(MESSAGE_TYPE)),
        ("rejected", pa.list_(MESSAGE_TYPE)),
        ("id", pa.string()),
        ("chosen_id", pa.string()),  # SFT row ids
        ("rejected_id", pa.string()),
        ("chosen_value", pa.float64()),  # 1.0: verified, 0.0: not
        ("rejected_value", pa.float64()),
        ("source_kind", pa.string()),
        ("source", SOURCE_TYPE),
    ]
)
STEP_PAIR_SCHEMA = pa.schema(
    [
        ("prompt", pa.string()),
        ("chosen", pa.string()),
        ("rejected", pa.string()),
        ("id", pa.string()),
        ("chosen_id", pa.string()),  # tree node ids (PRM rows' ``nodes``)
        ("rejected_id", pa.string()),
        ("parent_id", pa.string()),
        ("chosen_value", pa.float64()),  # the nodes' Q in [-1, 1]
        ("rejected_value", pa.float64()),
        ("chosen_visits", pa.int64()),
        ("rejected_visits", pa.int64()),
        ("margin", pa.float64()),  # chosen_value - rejected_value
        ("source_kind", pa.string()),
        ("source", SOURCE_TYPE),
    ]
)
