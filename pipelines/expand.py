"""``reverse-o1 expand``: MCTS from every cut of human-annotated solutions → SFT and PRM rows.

read → seeds (unique, valid) → expand (one seed's cuts searched in lockstep, as a program on the
worker's engine with many seeds' searches at once; every complete
trajectory becomes an SFT row, verified or not, and a PRM row with ``method=mcts`` whose ``nodes``
give, per step, the tree node it is: id, parent id, Q and visits, for ``export pairs``) → tag
(thought factors, rendered messages) → Parquet shards under ``DIR/sft`` and ``DIR/prm``.

With ``--only-verified`` a wrong trajectory gives its PRM row and no SFT row (stat
``sft_unverified_left_out``), and the seed's resume state names only the rows written.

Resume works per seed: after searching a seed, the ids of its rows are recorded under
``DIR/.state/expand/`` (``trajectories``, the stage that makes the rows); a rerun skips a seed
whose recorded rows are all in the output.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput

from generators.backends.handle import BackendHandle
from generators.engine.program import Program
from generators.search import MCTSExpander, MCTSSettings, SearchRoot, trajectory_labels
from generators.search.mcts import Found, SearchResult
from generators.search.tree import Node
from pipelines import options
from pipelines.command import PipelineCommand, Requirement
from pipelines.config import RunConfig
from pipelines.io import fs
from pipelines.io.read import DEAD, ReadRecords
from pipelines.io.shards import WriteShards
from pipelines.runner import RunContext
from pipelines.screen import screen_for
from pipelines.search_trees import SearchDone, TreeRowsFn, node_id, tree_node_ids
from pipelines.settings import ModelSettings, model_settings, tagging_settings, value_model_spec
from pipelines.stage.kernel import RESUMED, Emit, Filtered, Rejected, Stage
from pipelines.stage.program_stage import CheckedProgramStage
from pipelines.tag_sft_rows import TagSFTRows
from pipelines.trajectories import ToTrajectories
from schemas.factors import FactorVocabulary, load_factors
from schemas.ids import content_id
from schemas.records import GeneratorInfo, PRMRow, SFTRow, Trajectory, TreeNode

STATE_DIR = ".state/expand"
PRM = "prm"


@dataclass(frozen=True)
class ExpandSettings:
    model: ModelSettings
    mcts: MCTSSettings
    cuts: str
    seed: int
    only_verified: bool = False  # unverified trajectories give PRM rows but no SFT row
    trees: bool = True  # every node of every search tree, as ``trees`` rows


def expand_settings(config: RunConfig, vocabulary: FactorVocabulary) -> ExpandSettings:
    factors: tuple[tuple[str, str], ...] = ()
    if config.factor_actions:
        factors = tuple((f.name, f.description) for f in vocabulary.factors)
    mcts = MCTSSettings(
        simulations=config.simulations, branching=config.branching, c_puct=config.c_puct, max_depth=config.max_depth,
        temperature=config.temperature, step_tokens=min(64, config.max_new_tokens), rollout_tokens=config.max_new_tokens,
        seed=config.seed, factors=factors, parallel_leaves=config.parallel_leaves, factor_subset=config.factor_subset,
        **value_settings(config),
    )
    return ExpandSettings(model_settings(config), mcts, config.cuts, config.seed, config.only_verified, config.trees)


def value_settings(config: RunConfig) -> dict[str, Any]:
    """``--value-model``/``--value-mix``/``--best-of`` as MCTS settings (none at all without a value model)."""
    spec = value_model_spec(config)
    return {} if spec is None else {"value_model": spec.identity, "value_mix": config.value_mix, "best_of": config.best_of}


def cut_points(n_steps: int, cuts: str, key: str) -> list[int]:
    """Prefix lengths to search from: each boundary between human steps (the problem alone
    for a one-step seed); ``first`` keeps the first, ``random:K`` K of them, seeded by ``key``."""
    boundaries = list(range(1, n_steps)) or [0]
    if cuts == "all":
        return boundaries
    if cuts == "first":
        return boundaries[:1]
    k = int(cuts.split(":", 1)[1])
    rng = random.Random(int(content_id("cuts", key, length=8), 16))
    return sorted(rng.sample(boundaries, min(k, len(boundaries))))


class ExpandFn(CheckedProgramStage):
    """Searches one seed (all its cuts together, in lockstep) as a program on the worker's engine:
    stage ``expand``, one read per seed; many seeds' requests share each backend call."""

    failure = "search_error"

    def __init__(self, handle: BackendHandle, settings: ExpandSettings, factor_names: frozenset[str], out_dir: str,
                 stage: str = "expand"):
        super().__init__(stage, handle)
        self.settings = settings
        self.factor_names = factor_names
        self.out_dir = out_dir

    def start(self, seed: Trajectory, sft_done: frozenset[str] = frozenset(),
              prm_done: frozenset[str] = frozenset(), trees_done: frozenset[str] = frozenset()) -> Any:
        cuts = cut_points(len(seed.steps), self.settings.cuts, f"{self.settings.seed}:{seed.id}")
        mcts, model = self.settings.mcts, self.settings.model
        key = content_id("expand", seed.id, seed.problem, [s.text for s in seed.steps], seed.gold_answer, cuts,
                         mcts, model.backend, model.model, *(["only_verified"] if self.settings.only_verified else []))
        if already_done(self.out_dir, key, {"sft": sft_done, "prm": prm_done, "trees": trees_done}):
            return RESUMED
        unknown = sorted({s.factor for s in seed.steps if s.factor and s.factor not in self.factor_names})
        if unknown:  # caught before the search: its SFT rows could not be tagged
            return Rejected("unknown_factor", f"step factors {unknown} are not in the vocabulary "
                                              f"({', '.join(sorted(self.factor_names))})", seed.id)
        roots = [SearchRoot(f"{seed.id}#cut{c}", seed.problem, seed.gold_answer, seed.steps[:c]) for c in cuts]
        return self._search(MCTSExpander(self.engine().backend, self.verifier, mcts), seed, key, cuts, roots)

    def _search(self, expander: MCTSExpander, seed: Trajectory, key: str, cuts: list[int],
                roots: list[SearchRoot]) -> Program[tuple[MCTSExpander, SearchDone]]:
        results = yield from expander.search(roots)
        mcts, model = self.settings.mcts, self.settings.model
        generator = GeneratorInfo(model.backend, expander.backend.model_name, mcts.temperature, mcts.seed,
                                  mcts.prompt_version)
        return expander, SearchDone(seed, key, cuts, roots, results, generator, mcts.value_model, mcts.value_mix)

    def finish(self, seed: Trajectory, result: tuple[MCTSExpander, SearchDone]) -> Any:
        expander, done = result
        for name, value in dataclasses.asdict(expander.stats).items():
            self.stat(name, value)
        self.stat("roots", len(done.results))
        self.stat("verified_trajectories", sum(f.correct for r in done.results for f in r.found))
        return done


class TrajectoryRowsFn(Stage):
    """A finished search → an SFT row and a PRM row per trajectory it found (stage ``trajectories``:
    one read per trajectory or rollout without an answer); records the seed's resume state."""

    per_item = True

    def __init__(self, settings: MCTSSettings, out_dir: str, stage: str = "trajectories", only_verified: bool = False,
                 trees: bool = True):
        super().__init__(stage)
        self.settings = settings
        self.out_dir = out_dir
        self.only_verified = only_verified
        self.trees = trees

    def ref(self, done: SearchDone) -> str:
        return done.seed.ref

    def run(self, done: SearchDone, sft_done: frozenset[str] = frozenset(),
            prm_done: frozenset[str] = frozenset(), trees_done: frozenset[str] = frozenset()) -> Iterator[Any]:
        seed, generator = done.seed, done.generator
        seen: set[str] = set()
        sft_ids: list[str] = []
        prm_ids: list[str] = []
        outcomes: list[Any] = []
        for cut, root, result in zip(done.cuts, done.roots, done.results, strict=True):
            outcomes += [Filtered("no_final_answer")] * result.no_answer
            for found in result.found:
                steps = list(root.prefix) + found.steps()
                content = [seed.problem, [(s.text, s.factor) for s in steps], found.answer]
                ident = content_id("mcts", seed.source_kind, seed.id, content, self.settings, generator.model)
                if ident in seen:  # two paths of the tree reached the same text
                    outcomes.append(Filtered("duplicate_trajectory"))
                    continue
                seen.add(ident)
                sft = self._sft_row(seed, steps, found, ident, generator)
                prm = self._prm_row(seed, steps, cut, result, found, ident, generator, done.key)
                keep_sft = found.correct or not self.only_verified  # --only-verified: no SFT row of a wrong answer
                if not keep_sft:
                    self.stat("sft_unverified_left_out")
                sft_ids += [sft.id] if keep_sft else []
                prm_ids.append(prm.id)
                outputs = ([sft] if keep_sft and sft.id not in sft_done else []) + (
                    [TaggedOutput(PRM, prm)] if prm.id not in prm_done else [])
                outcomes.append(Emit(*outputs))
        trees = tree_node_ids(done) if self.trees else []
        state = json.dumps({"sft": sorted(sft_ids), "prm": sorted(prm_ids), "trees": sorted(trees)})
        fs.write_text(state_path(self.out_dir, done.key), state, self.out_dir)
        yield from outcomes

    def _sft_row(self, seed: Trajectory, steps: list, found: Found, ident: str, generator: GeneratorInfo) -> SFTRow:
        detail = f"{found.status}: {found.detail}".strip(": ") if found.detail else found.status
        return SFTRow(
            id=content_id("sft", ident), source_kind=seed.source_kind, source=seed.source, problem=seed.problem,
            steps=steps, answer=found.answer, messages=[], verified=found.correct, verifier="math-verify",
            verifier_detail=detail, generator=generator,
        )

    def _prm_row(self, seed: Trajectory, steps: list, cut: int, result: SearchResult, found: Found, ident: str,
                 generator: GeneratorInfo, key: str) -> PRMRow:
        labels = trajectory_labels(cut, result.root, found)
        mcts = self.settings
        return PRMRow(
            prompt=seed.problem, completions=[s.text for s in steps], labels=labels.hard, soft_labels=labels.soft,
            rollouts=labels.rollouts, correct_rollouts=labels.correct, method="mcts", answer_correct=found.correct,
            id=content_id("prm", ident), source_kind=seed.source_kind, source=seed.source, generator=generator,
            nodes=tree_nodes(key, cut, result.root, found, len(steps)), q_values=labels.q,
            value_model=mcts.value_model or None, value_mix=mcts.value_mix if mcts.value_model else None,
        )


def tree_nodes(key: str, cut: int, root: Node, found: Found, n_steps: int) -> list[TreeNode | None]:
    """Per step of a trajectory, the tree node it is: the root at the cut's last human step (when the
    cut has one), then each tree step; None for the earlier human steps and the rollout's steps."""
    nodes: list[TreeNode | None] = [None] * n_steps
    if cut:
        nodes[cut - 1] = TreeNode(node_id(key, cut, root), None, root.q, root.visits)
    for j, node in enumerate(found.node.lineage()):
        parent = node.parent if node.parent is not None else root
        nodes[cut + j] = TreeNode(node_id(key, cut, node), node_id(key, cut, parent), node.q, node.visits, node.prior)
    return nodes


def state_path(out_dir: str, key: str) -> str:
    return fs.join(out_dir, STATE_DIR, f"{key}.json")


def already_done(out_dir: str, key: str, existing: dict[str, frozenset[str]]) -> bool:
    """The seed's search finished in an earlier run and all its rows are in the shards."""
    path = state_path(out_dir, key)
    try:
        state = fs.read_json(path) if fs.exists(path) else None
    except (OSError, ValueError):
        return False
    return isinstance(state, dict) and all(set(state.get(kind, [])) <= existing[kind] for kind in ("sft", "prm", "trees"))


def build_expand(pipeline: beam.Pipeline, config: RunConfig, ctx: RunContext) -> list[beam.PCollection]:
    vocabulary = load_factors(config.factors)  # a bad --factors file fails here, before any work
    settings = expand_settings(config, vocabulary)
    read = pipeline | "Read" >> ReadRecords(config.input, "read", config.max_record_bytes, config.limit)
    seeds = read["records"] | "Seeds" >> ToTrajectories("seeds")
    done = {"sft_done": ctx.existing("sft"), "prm_done": ctx.existing("prm"), "trees_done": ctx.existing("trees")}
    search = ExpandFn(ctx.backend, settings, frozenset(vocabulary.names), ctx.out_dir)
    screen = seeds["trajectories"] | "Screen" >> screen_for(config, ctx, band=True)
    searched = screen["kept"] | "Expand" >> beam.ParDo(search, **done).with_outputs(DEAD, main="done")
    rows_fn = TrajectoryRowsFn(settings.mcts, ctx.out_dir, only_verified=settings.only_verified, trees=settings.trees)
    found = searched.done | "Trajectories" >> beam.ParDo(rows_fn, **done).with_outputs(DEAD, PRM, main="sft")
    tagged = found.sft | "Tag" >> TagSFTRows(tagging_settings(config), ctx.backend)
    dead = [read[DEAD], seeds[DEAD], screen[DEAD], searched[DEAD], found[DEAD], tagged[DEAD]]
    _ = tagged["rows"] | "WriteSFT" >> WriteShards(ctx.out_dir, "sft", ctx.run_id, config.rows_per_shard, ctx.split)
    _ = found[PRM] | "WritePRM" >> WriteShards(ctx.out_dir, "prm", ctx.run_id, config.rows_per_shard, ctx.split)
    if settings.trees:
        trees = searched.done | "Trees" >> beam.ParDo(TreeRowsFn(), trees_done=done["trees_done"]).with_outputs(DEAD, main="rows")
        _ = trees.rows | "WriteTrees" >> WriteShards(ctx.out_dir, "trees", ctx.run_id, config.rows_per_shard, ctx.split)
        dead.append(trees[DEAD])
    return dead


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds", dest="input", nargs="+", action="extend", help="seed JSONL files (seeds template)")
    parser.add_argument("--cuts", help="which prefixes become roots: all | first | random:K (default all)")
    parser.add_argument("--branching", type=int, help="candidate next steps per expansion, one batch (default 4)")
    parser.add_argument("--c-puct", dest="c_puct", type=float, help="PUCT exploration constant (default 1.5)")
    parser.add_argument("--simulations", type=int, help="select-expand-evaluate-backup rounds per root (default 16)")
    parser.add_argument("--parallel-leaves", dest="parallel_leaves", type=int,
                        help="leaves selected per tree and round, each path given a virtual loss, so one search fills "
                             "a large batch (default 1: the plain search; K > 1 gives other trees and row ids)")
    parser.add_argument("--max-depth", dest="max_depth", type=int, help="steps the tree may add below a root (default 12)")
    parser.add_argument("--factor-actions", dest="factor_actions", action="store_true", default=None,
                        help="the search picks each step's thought factor as part of the action: every expansion "
                             "proposes at least one candidate per factor, the prior a probability over factors")
    parser.add_argument("--factor-subset", dest="factor_subset", type=int,
                        help="with --factor-actions: K factors per expansion, drawn uniformly per node (default 0: all)")
    parser.add_argument("--no-trees", dest="trees", action="store_false", default=None,
                        help="do not write the search trees (DIR/trees: one row per node)")
    parser.add_argument("--value-model", dest="value_model", metavar="SPEC",
                        help="a process reward model for the search's leaf values: a PRM folder (TRL's PRMTrainer), "
                             "generative:DIR|embedded, http://HOST:PORT (vLLM reward server), or scripted[:FACTOR] (tests)")
    parser.add_argument("--value-mix", dest="value_mix", type=float, metavar="LAMBDA",
                        help="with --value-model: a leaf's value = LAMBDA * rollout + (1 - LAMBDA) * reward model "
                             "(default 0.5 with --value-model, 1 without: rollouts only; 0: no rollouts at all)")
    parser.add_argument("--best-of", dest="best_of", type=int, metavar="N",
                        help="with --value-model: each candidate step is the best-scored of N samples (per factor with "
                             "--factor-actions); all N are kept in DIR/trees (default 1)")
    options.sft_options(parser)
    options.band_options(parser)
    options.common(parser)


COMMAND = PipelineCommand(
    name="expand",
    help="MCTS from every cut of human-annotated solutions -> SFT and PRM rows",
    add_arguments=add_arguments,
    build=build_expand,
    required=(Requirement(lambda c: bool(c.input), "expand needs --seeds FILE.jsonl (or input: in --config)"),),
)
