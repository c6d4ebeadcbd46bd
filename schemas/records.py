"""Record types shared by every pipeline.

Plain dataclasses: cheap to pickle between Beam workers, and ``to_dict`` gives exactly the
columns of the Arrow schemas in ``schemas.arrow``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, is_dataclass
from typing import Any, Literal

SourceKind = Literal["code", "lean", "seed"]
Method = Literal["shepherd", "binary", "mcts", "judge", "consensus"]


def _plain(value: Any) -> dict[str, Any]:
    """A record (dataclass) or a mapping as a plain dict, for Arrow."""
    return asdict(value) if is_dataclass(value) and not isinstance(value, type) else dict(value)


@dataclass(frozen=True)
class Step:
    """One reasoning step; ``factor`` is a thought-factor name or None when untagged."""

    text: str
    factor: str | None = None


@dataclass(frozen=True)
class Source:
    """Where a row came from: a file of a repository, a seed file line, a Lean theorem.

    ``uri``: ``schemas.provenance.source_uri``'s normal form (a repository's origin URL without
    credentials, a remote input as itself, else an absolute ``file://`` URI), ``commit`` the commit
    of a repository. ``license``: the SPDX id of what the row's content comes from (the repository's
    licence for code and for a Lean theorem of a known repository, else the input file's), ``"see
    URI"`` for a licence file that is not recognised, None when unknown. ``dataset_license``: the
    licence of the input file the row was read from when that is a work of its own, distinct from
    the content (a LeanDojo Benchmark file: CC-BY-2.0, while its theorems keep mathlib's Apache-2.0);
    None otherwise.
    """

    uri: str
    commit: str | None = None
    path: str | None = None
    symbol: str | None = None
    license: str | None = None
    dataset_license: str | None = None


SOURCE_FIELDS = ("uri", "commit", "path", "symbol", "license", "dataset_license")


@dataclass(frozen=True)
class GeneratorInfo:
    """What produced a row, so that a dataset can be traced to its model and prompt."""

    backend: str
    model: str
    temperature: float
    seed: int
    prompt_version: str


@dataclass(frozen=True)
class Seed:
    """A human-annotated problem: the gold answer and the annotator's step-by-step solution."""

    id: str
    problem: str
    answer: str
    steps: tuple[Step, ...]
    domain: str = "math"
    annotator: str | None = None
    notes: str | None = None
    ref: str = ""  # FILE:LINE it was read from

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["steps"] = [_plain(s) for s in self.steps]
        data.pop("ref")
        return data


@dataclass(frozen=True)
class Trajectory:
    """A solution to be labelled: a problem, its steps, the answer it reached and the gold one.

    ``gold_answer`` is None only for an input without one under ``label --gold majority``, until the
    majority vote of sampled solutions (``pipelines.majority_gold``) sets it, ``gold_source`` ``"majority"``
    and ``gold_share`` the share of the samples that reached it."""

    id: str
    problem: str
    steps: tuple[Step, ...]
    answer: str | None
    gold_answer: str | None
    source_kind: SourceKind
    source: Source
    ref: str = ""
    is_seed: bool = False  # read from a seed line (a problem of its own), not from a row of some solution
    gold_source: str = "given"  # "given" (the input's) or "majority"
    gold_share: float | None = None  # "majority": the share of the sampled solutions whose answer it is


@dataclass
class SFTRow:
    """One SFT row. ``truncated``: the CoT was cut at the generator's token cap and kept under
    ``--keep-truncated`` (True), checked and complete (False), or not checked by the command that
    made the row (None)."""

    id: str
    source_kind: SourceKind
    source: Source
    problem: str
    steps: list[Step]
    answer: str
    messages: list[dict[str, str]]
    verified: bool
    verifier: str
    verifier_detail: str
    generator: GeneratorInfo
    truncated: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """Exactly the columns of ``SFT_SCHEMA``, in its order."""
        return {
            "id": self.id,
            "source_kind": self.source_kind,
            "source": _plain(self.source),
            "problem": self.problem,
            "steps": [_plain(s) for s in self.steps],
            "answer": self.answer,
            "messages": [dict(m) for m in self.messages],
            "verified": bool(self.verified),
            "verifier": self.verifier,
            "verifier_detail": self.verifier_detail,
            "generator": _plain(self.generator),
            "truncated": None if self.truncated is None else bool(self.truncated),
        }


@dataclass(frozen=True)
class TreeNode:
    """A node of an MCTS tree as a PRM row records it: ids (parent None at the root), Q in [-1, 1]
    and visits when the search ended, and the prior PUCT weighed it by (None at the root). Siblings
    (one parent) are the candidates for one next step."""

    id: str
    parent: str | None
    q: float
    visits: int
    prior: float | None = None


@dataclass
class PRMRow:
    """TRL stepwise-supervision columns first (prompt, completions, labels), then ours."""

    prompt: str
    completions: list[str]
    labels: list[bool | None]  # None: a step nothing measured (``mcts`` rows; exports drop or cut such rows)
    soft_labels: list[float | None]
    rollouts: list[int]
    correct_rollouts: list[int]
    method: Method
    answer_correct: bool
    id: str
    source_kind: SourceKind
    source: Source
    generator: GeneratorInfo
    #: per step, the search-tree node it is (``TreeNode``) or None; None for rows not made by a tree search
    nodes: list[TreeNode | None] | None = None
    #: per step, the Q of the tree node it is (``mcts`` rows only): a search statistic, not a fraction of completions
    q_values: list[float | None] | None = None
    #: per step, the Monte Carlo labeller's hard label (``consensus`` rows; None elsewhere)
    mc_labels: list[bool | None] | None = None
    #: per step, the LLM judge's verdict (``judge`` and ``consensus`` rows): true before the step it judged the first
    #: wrong one, false there, None after it (unmeasured) and where its reply said neither
    judge_labels: list[bool | None] | None = None
    #: ``consensus`` rows: the share of the steps both MC and the judge labelled on which they agree (None: no such step)
    agreement: float | None = None
    #: ``judge`` and ``consensus`` rows: the judge's model (``generator`` names the completer of a consensus row)
    judge_model: str | None = None
    #: the gold answer the steps were labelled against (``label`` rows; None elsewhere)
    gold_answer: str | None = None
    #: where it came from: "given" (the input's) or "majority" (``label --gold majority``); None: not recorded
    gold_source: str | None = None
    #: ``gold_source`` "majority": the share of the sampled solutions whose final answer it is
    gold_share: float | None = None
    #: ``expand --value-model``: the process reward model that gave the search's values, and lambda (``--value-mix``)
    value_model: str | None = None
    value_mix: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Exactly the columns of ``PRM_SCHEMA``, in its order.

        Labels are cast to bool (a labeller may hand over 0/1, which Arrow refuses for a bool
        column); None stays None (null), as does a soft label where a step was never measured.
        """
        return {
            "prompt": self.prompt,
            "completions": list(self.completions),
            "labels": [None if x is None else bool(x) for x in self.labels],
            "soft_labels": [None if x is None else float(x) for x in self.soft_labels],
            "rollouts": [int(x) for x in self.rollouts],
            "correct_rollouts": [int(x) for x in self.correct_rollouts],
            "method": self.method,
            "answer_correct": bool(self.answer_correct),
            "id": self.id,
            "source_kind": self.source_kind,
            "source": _plain(self.source),
            "generator": _plain(self.generator),
            "nodes": None if self.nodes is None else [None if n is None else _plain(n) for n in self.nodes],
            "q_values": None if self.q_values is None else [None if x is None else float(x) for x in self.q_values],
            "mc_labels": _bools(self.mc_labels),
            "judge_labels": _bools(self.judge_labels),
            "agreement": None if self.agreement is None else float(self.agreement),
            "judge_model": self.judge_model,
            "gold_answer": self.gold_answer,
            "gold_source": self.gold_source,
            "gold_share": None if self.gold_share is None else float(self.gold_share),
            "value_model": self.value_model,
            "value_mix": None if self.value_mix is None else float(self.value_mix),
        }


def _bools(values: list[bool | None] | None) -> list[bool | None] | None:
    return None if values is None else [None if x is None else bool(x) for x in values]
