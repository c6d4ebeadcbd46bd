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
# ``expand --best-of N``: one of the N candidates a tree node was chosen from, the reward model's score of it
CANDIDATE_TYPE = pa.struct([("text", pa.string()), ("score", pa.float64()), ("kept", pa.bool_())])

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
        # nullable; added in 0.3: per step, the Q in [-1, 1] of the tree node it is (``method=mcts`` only; null
        # elsewhere): a search statistic, kept apart from ``soft_labels`` (fractions of independent completions)
        ("q_values", pa.list_(pa.float64())),
        # nullable; added in 0.4 (``label --method judge|consensus``, ``--gold majority``; see schemas.records.PRMRow):
        # the Monte Carlo and the judge's labels a consensus row agrees from, and their agreement
        ("mc_labels", pa.list_(pa.bool_())),
        ("judge_labels", pa.list_(pa.bool_())),
        ("agreement", pa.float64()),
        ("judge_model", pa.string()),
        # the gold answer a ``label`` row was labelled against, "given" or "majority", and the majority's share
        ("gold_answer", pa.string()),
        ("gold_source", pa.string()),
        ("gold_share", pa.float64()),
        # nullable; added in 0.5 (``expand --value-model``): the process reward model that gave the search's leaf
        # values (``reward.spec``'s name) and the share of rollouts in them (``--value-mix`` lambda; 1: rollouts only)
        ("value_model", pa.string()),
        ("value_mix", pa.float64()),
    ]
)

# ``expand``'s search trees, one row per node (``DIR/trees``): every node the search created, the root of
# each cut, dead ends and children never selected included. ``tree_id`` names one root's tree; ``parent``
# is null at the root, whose row alone carries ``problem``, ``prefix`` (the cut's human steps) and
# ``gold_answer``. ``visits`` = evaluations backed up through the node, ``value_sum`` their sum (each +-1),
# ``q`` their mean, ``correct`` those that reached the gold answer; ``value`` is the node's own evaluation
# (its terminal verdict or its rollout's, +-1, or with ``--value-model`` lambda * rollout + (1 - lambda) *
# (2 * score - 1); null for a node never evaluated by itself: the root) and
# ``rollout`` that rollout's steps. So visits = sum(children's visits) + (1 if value is not null) for
# every expanded node. ``factor_prior``: the probability the search gave the node's factor (factor actions).
# With ``--value-model`` (0.5): ``score`` is the reward model's P(step correct) for the node's step (null: not
# scored), ``value_model``/``value_mix`` say which model and lambda gave the values; with ``--best-of N``,
# ``candidates`` holds the N samples the node was chosen from, each with its score (``kept``: this node's text).
# ``checked``: the node's visits whose evaluation the verifier judged (a value model's score alone judges
# nothing): readers that call a step wrong (``correct`` < evaluations) count these, not ``visits``.
TREE_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("tree_id", pa.string()),
        ("parent", pa.string()),
        ("depth", pa.int64()),
        ("path", pa.list_(pa.int64())),
        ("text", pa.string()),
        ("factor", pa.string()),
        ("prior", pa.float64()),
        ("factor_prior", pa.float64()),
        ("visits", pa.int64()),
        ("value_sum", pa.float64()),
        ("q", pa.float64()),
        ("correct", pa.int64()),
        ("value", pa.float64()),
        ("expanded", pa.bool_()),
        ("terminal_reason", pa.string()),  # answer | dead_end | null (not terminal)
        ("answer", pa.string()),  # the answer the node's step states (terminal) or its rollout reached
        ("answer_correct", pa.bool_()),
        ("rollout", pa.list_(pa.string())),
        ("problem", pa.string()),  # the root's row only
        ("prefix", pa.list_(STEP_TYPE)),  # the root's row only
        ("gold_answer", pa.string()),  # the root's row only
        ("seed_id", pa.string()),
        ("cut", pa.int64()),
        ("source_kind", pa.string()),
        ("source", SOURCE_TYPE),
        ("generator", GENERATOR_TYPE),
        ("score", pa.float64()),  # nullable; added in 0.5
        ("candidates", pa.list_(CANDIDATE_TYPE)),  # nullable; added in 0.5
        ("value_model", pa.string()),  # nullable; added in 0.5
        ("value_mix", pa.float64()),  # nullable; added in 0.5
        ("checked", pa.int64()),  # nullable; added in 0.5: the visits the verifier checked (<= visits; null: all of them)
    ]
)

# ``reverse-o1 difficulty``: one row per problem, ``k`` full solutions sampled from the problem alone and
# checked against the gold answer. ``pass_rate`` = correct / k; ``pass_at_1``/``pass_at_4``/``pass_at_k``:
# Chen et al.'s unbiased estimator 1 - C(k - c, j) / C(k, j) (null where j > k); ``problem_id`` is the
# seed's id, what every command's ``--difficulty`` band joins on. The samples are kept (``completions``,
# ``answers``, ``outcomes``: ``export orm``'s rows).
DIFFICULTY_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("problem_id", pa.string()),
        ("problem", pa.string()),
        ("answer", pa.string()),  # the gold answer
        ("k", pa.int64()),
        ("correct", pa.int64()),
        ("pass_rate", pa.float64()),
        ("pass_at_1", pa.float64()),
        ("pass_at_4", pa.float64()),
        ("pass_at_k", pa.float64()),
        ("mean_tokens", pa.float64()),
        ("completions", pa.list_(pa.string())),
        ("answers", pa.list_(pa.string())),  # the final answer each completion stated (null: none)
        ("outcomes", pa.list_(pa.bool_())),  # math-verify's verdict per completion
        ("truncated", pa.list_(pa.bool_())),  # cut at the token cap
        ("source_kind", pa.string()),
        ("source", SOURCE_TYPE),
        ("generator", GENERATOR_TYPE),
    ]
)

# ``reverse-o1 summarize``: one row per SFT row whose hidden CoT got a summary that passed the checks
# (``generators.summary``). ``prompt`` is the problem, ``cot`` the hidden CoT as the SFT row's assistant turn
# renders it (``<Think_Start>`` to ``<Think_End>``), ``summary`` the model's summary, ``answer`` the SFT row's;
# ``messages`` is a summariser's SFT pair: the user turn the model was given (problem and tagged CoT, prompt
# ``summarize``), the summary as the assistant's. ``summary_answer`` is the answer the summary states,
# ``copied`` the share of the CoT's words it copies, ``length_ratio`` its length over the CoT's text,
# ``sample`` which of the ``--samples`` was kept; ``sft_id`` and ``sft_verified`` name the SFT row.
SUMMARY_SCHEMA = pa.schema(
    [
        ("prompt", pa.string()),
        ("cot", pa.string()),
        ("summary", pa.string()),
        ("answer", pa.string()),
        ("messages", pa.list_(MESSAGE_TYPE)),
        ("id", pa.string()),
        ("sft_id", pa.string()),
        ("summary_answer", pa.string()),
        ("copied", pa.float64()),
        ("length_ratio", pa.float64()),
        ("sample", pa.int64()),
        ("sft_verified", pa.bool_()),
        ("source_kind", pa.string()),
        ("source", SOURCE_TYPE),
        ("generator", GENERATOR_TYPE),
    ]
)

SCHEMAS: dict[str, pa.Schema] = {"sft": SFT_SCHEMA, "prm": PRM_SCHEMA, "trees": TREE_SCHEMA, "difficulty": DIFFICULTY_SCHEMA,
                                 "summaries": SUMMARY_SCHEMA}

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

# ``reverse-o1 export policy-value``: AlphaZero targets over thought factors, one row per expanded state.
POLICY_VALUE_SCHEMA = pa.schema(
    [
        ("prompt", pa.string()),  # the problem and the steps so far, rendered with the tag format
        ("factors", pa.list_(pa.string())),  # the vocabulary, in its order: the index of ``pi``
        ("pi", pa.list_(pa.float64())),  # visit share per factor, summing to 1, zeros included
        ("visits", pa.int64()),
        ("q", pa.float64()),
        ("value_target", pa.float64()),  # +-1: the outcome of the line the search would play from here
        ("value_mean", pa.float64()),  # the state's mean value (Q)
        ("chosen_factor", pa.string()),  # the factor of the most visited child
        ("id", pa.string()),  # the state's tree node id
        ("tree_id", pa.string()),
        ("depth", pa.int64()),
        ("source_kind", pa.string()),
        ("source", SOURCE_TYPE),
    ]
)
