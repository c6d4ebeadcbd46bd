"""MCTS from human-annotated prefixes: the policy proposes steps, rollouts and the verifier score them.

One simulation of a root: select a leaf by PUCT (``parallel_leaves`` K > 1: K leaves per round, each
selected path given a virtual loss until the round's values are backed up); expand it with ``branching`` candidate next
steps (all in one request, or one request per thought factor with ``factor_actions``); evaluate
every new child (a step that states an answer is scored by the verifier, any other is rolled
out to a final answer and that answer scored); back up +1 / -1. The roots of one seed (its
cuts) advance in lockstep so that each backend call carries the work of all of them.
Seeds of every request derive from the settings' seed, the root's key and the node's path, so
the tree is deterministic for a deterministic backend. The search is a program (``search``: it
yields its requests, ``generators.engine``), so a worker's engine runs many seeds' searches at once.

With a value model (``value_model``: a process reward model served beside the policy,
``generators.reward``), a new child's value is ``value_mix`` · its rollout's + (1 - ``value_mix``) ·
(2 · P(correct) - 1), P from the reward model; at ``value_mix`` 0 nothing is rolled out. With
``best_of`` N, each candidate step is the best-scored of N samples (per factor with factor actions),
the N kept on the node (``candidates``). Hard labels and ``hits`` come from the verifier alone.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from generators.backends.base import Completion, GenerationParams, GenRequest, LLMBackend
from generators.engine.program import Program, drive
from generators.labelling.base import AnswerChecker
from generators.prompts import template
from generators.reward.base import ScoreRequest, StepScores
from generators.search.tree import Node, select_leaves
from schemas.ids import sampling_seed
from schemas.records import Step

MAX_STEP_CHARS = 2000


@dataclass(frozen=True)
class MCTSSettings:
    simulations: int = 16
    branching: int = 4
    c_puct: float = 1.5
    max_depth: int = 12
    temperature: float = 0.7
    step_tokens: int = 64  # one proposed step
    rollout_tokens: int = 192  # a rollout to the final answer
    seed: int = 0
    factors: tuple[tuple[str, str], ...] = ()  # (name, description): the factor actions, if any
    step_template: str = "mcts_step"
    rollout_template: str = "shepherd_continue"
    factor_subset: int = 0  # factor actions: factors tried per expansion, drawn uniformly (--factor-subset); 0: all
    parallel_leaves: int = 1  # leaves per root and round, with a virtual loss (--parallel-leaves); 1: the plain search
    value_model: str = ""  # --value-model: the reward model's name; "" none (values from rollouts, no best-of)
    value_mix: float = 1.0  # --value-mix lambda: a leaf's value = lambda * rollout + (1 - lambda) * (2 * score - 1)
    best_of: int = 1  # --best-of N: each candidate step the best-scored of N samples

    def __repr__(self) -> str:
        """The dataclass's repr (row ids hash it), without ``parallel_leaves`` at its default of 1: the
        plain search keeps the row ids it had before the option existed; K > 1 gives other ids."""
        hidden = {"factor_subset"} | ({"value_model", "value_mix", "best_of"} if not self.value_model else set())
        shown = [f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self)
                 if (f.name != "parallel_leaves" or self.parallel_leaves != 1) and f.name not in hidden]
        if self.factors:  # factor actions try every factor (or a subset) with a prior over factors: other trees than 0.2's
            shown.append(f"factor_rule='every',factor_subset={self.factor_subset}")
        return f"{type(self).__name__}({', '.join(shown)})"

    @property
    def prompt_version(self) -> str:
        """The prompts' versions, as rows record them (``generator.prompt_version``); a search with
        parallel leaves says so there too (``+parallel_leaves:K``): its trees differ from the plain one's."""
        step = "mcts_step_factor" if self.factors else self.step_template
        version = f"{template(step).id}+{template(self.rollout_template).id}"
        if self.factors:
            version += f"+factors:{self.factor_subset or 'all'}"
        if self.value_model:
            version += f"+value_mix:{self.value_mix:g}" + (f"+best_of:{self.best_of}" if self.best_of > 1 else "")
        return version + (f"+parallel_leaves:{self.parallel_leaves}" if self.parallel_leaves != 1 else "")


@dataclass(frozen=True)
class SearchRoot:
    key: str  # a stable name (seed id and cut), part of every sampling seed
    problem: str
    gold: str
    prefix: tuple[Step, ...]


@dataclass
class Found:
    """A complete trajectory: the tree path to ``node``, then the rollout's steps, if any."""

    node: Node
    rollout: tuple[Step, ...]
    answer: str
    correct: bool
    status: str
    detail: str

    def steps(self) -> list[Step]:
        return self.node.steps() + list(self.rollout)


@dataclass
class SearchResult:
    root: Node
    found: list[Found] = field(default_factory=list)
    no_answer: int = 0  # rollouts that never stated a final answer


@dataclass
class SearchStats:
    simulations: int = 0
    expansions: int = 0
    rollouts: int = 0
    terminal_hits: int = 0  # evaluations of a step that stated an answer (no rollout needed)
    dead_ends: int = 0  # expansions where the policy produced no usable step
    backend_calls: int = 0
    multi_prompt_calls: int = 0  # calls that carried more than one prompt
    completions: int = 0
    generated_tokens: int = 0
    nodes: int = 0  # tree nodes created: roots and every child (the rows of ``trees``)
    scored: int = 0  # step prefixes the value model scored (leaf values and best-of candidates)
    score_calls: int = 0  # yields that asked the value model


def first_step(text: str) -> str:
    """The policy's proposed step: its first non-empty line, trimmed."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:MAX_STEP_CHARS]
    return ""


def rollout_steps(text: str, extract_answer: Callable[[str], str | None]) -> tuple[list[Step], str | None]:
    """A rollout's lines up to the first that states an answer (by the checker's ``extract_answer``), and that answer."""
    lines = [line.strip()[:MAX_STEP_CHARS] for line in text.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        answer = extract_answer(line)
        if answer is not None:
            return [Step(x) for x in lines[: i + 1]], answer
    answer = extract_answer(text)  # an answer spread over lines (a multi-line \boxed{})
    return [Step(x) for x in lines], answer


def priors(completions: Sequence[Completion]) -> list[float]:
    """Normalised per-token likelihoods where the backend gave log-probs, uniform otherwise."""
    if not completions:
        return []
    if any(c.logprob is None for c in completions):
        return [1.0 / len(completions)] * len(completions)
    weights = [math.exp(c.logprob / max(c.tokens, 1)) for c in completions]  # type: ignore[operator]
    total = sum(weights)
    return [w / total for w in weights] if total > 0 else [1.0 / len(weights)] * len(weights)


class MCTSExpander:
    """Runs the search for a group of roots (one seed's cuts) against one backend."""

    def __init__(self, backend: LLMBackend, checker: AnswerChecker, settings: MCTSSettings):
        self.backend = backend
        self.checker = checker
        self.settings = settings
        self.stats = SearchStats()
        self.step_prompt = template("mcts_step_factor" if settings.factors else settings.step_template)
        self.rollout_prompt = template(settings.rollout_template)
        self.best_of = max(1, settings.best_of) if settings.value_model else 1
        if settings.value_model and getattr(backend, "reward", None) is None:
            raise ValueError(f"the search asks value model {settings.value_model!r} for values, but the backend "
                             "serves none (generators.reward.routing.WithReward)")

    # -- requests ---------------------------------------------------------------------------
    def _seed(self, root: SearchRoot, node: Node, purpose: str) -> int:
        return sampling_seed(self.settings.seed, root.key, node.path, node.visits, purpose)

    def _messages(self, prompt, root: SearchRoot, node: Node, **extra: str) -> list[dict[str, str]]:
        prefix = "\n".join(s.text for s in list(root.prefix) + node.steps())
        part = "user" if prefix else "user_no_prefix"
        return prompt.messages(part, problem=root.problem, prefix=prefix, **extra)

    def _expansion_requests(self, root: SearchRoot, node: Node) -> list[GenRequest]:
        """One request of ``branching`` samples; with factor actions, one request per factor tried (every
        factor, or ``factor_subset`` of them drawn uniformly per node), each of at least one sample."""
        s = self.settings
        if not s.factors:
            params = GenerationParams(n=s.branching * self.best_of, temperature=s.temperature, max_new_tokens=s.step_tokens,
                                      seed=self._seed(root, node, "expand"), logprobs=True)
            return [GenRequest.chat(self._messages(self.step_prompt, root, node), params, key=None)]
        tried = list(s.factors)
        if 0 < s.factor_subset < len(tried):
            tried = random.Random(self._seed(root, node, "factors")).sample(tried, s.factor_subset)
        n = max(1, -(-s.branching // len(tried))) * self.best_of
        requests = []
        for name, description in tried:
            params = GenerationParams(n=n, temperature=s.temperature, max_new_tokens=s.step_tokens,
                                      seed=self._seed(root, node, f"expand:{name}"), logprobs=True)
            messages = self._messages(self.step_prompt, root, node, factor=name, description=description)
            requests.append(GenRequest.chat(messages, params, key=name))
        return requests

    def _rollout_request(self, root: SearchRoot, node: Node) -> GenRequest:
        s = self.settings
        params = GenerationParams(n=1, temperature=s.temperature, max_new_tokens=s.rollout_tokens,
                                  seed=self._seed(root, node, "rollout"))
        return GenRequest.chat(self._messages(self.rollout_prompt, root, node), params)

    def _call(self, requests: list[GenRequest]) -> Program[list[list[Completion]]]:
        """One yield of ``requests`` (many roots' and leaves' work together), counted."""
        if not requests:
            return []
        out = yield requests
        self.stats.backend_calls += 1
        self.stats.multi_prompt_calls += len(requests) > 1
        scored = 0
        for request, completions in zip(requests, out, strict=True):
            if isinstance(request, ScoreRequest):
                scored += 1
                continue
            self.stats.completions += len(completions)
            self.stats.generated_tokens += sum(c.tokens for c in completions)
        self.stats.scored += scored
        self.stats.score_calls += scored > 0
        return out

    def _score_request(self, root: SearchRoot, node: Node, extra: Step | None = None) -> ScoreRequest:
        """The value model's request: the root's prefix, the path to ``node`` (and ``extra``), scored per step."""
        steps = list(root.prefix) + node.steps() + ([extra] if extra is not None else [])
        return ScoreRequest(root.problem, tuple(steps))

    # -- the search -------------------------------------------------------------------------
    def _candidates(self, requests: list[GenRequest], outputs: list[list[Completion]]
                    ) -> dict[tuple[str, str | None], tuple[float, float | None]]:
        """(step text, factor) → (prior, factor prior). Without factor actions the factor is None and the
        prior the text's normalised likelihood over all samples (duplicates summed). With them, the prior
        is P(factor) · P(text | factor): the factor's probability (uniform over the factors tried) times
        the text's likelihood among that factor's samples; the same text under two factors is two actions."""
        found: dict[tuple[str, str | None], tuple[float, float | None]] = {}
        if not self.settings.factors:
            flat = [c for completions in outputs for c in completions]
            for completion, prior in zip(flat, priors(flat), strict=True):
                text = first_step(completion.text)
                if text:
                    found[(text, None)] = (found.get((text, None), (0.0, None))[0] + prior, None)
            return found
        p_factor = 1.0 / max(len(requests), 1)
        for request, completions in zip(requests, outputs, strict=True):
            for completion, prior in zip(completions, priors(completions), strict=True):
                text = first_step(completion.text)
                if text:
                    key = (text, request.key)
                    found[key] = (found.get(key, (0.0, p_factor))[0] + p_factor * prior, p_factor)
        return found

    def _expand(self, root: SearchRoot, node: Node, requests: list[GenRequest],
                outputs: list[list[Completion]], result: SearchResult) -> None:
        """Children from the candidates (duplicates merged); steps that state an answer are terminal."""
        node.expanded = True
        self.stats.expansions += 1
        candidates = self._candidates(requests, outputs)
        if not candidates:
            node.terminal, node.reason, node.reward = True, "dead_end", -1.0
            self.stats.dead_ends += 1
            return
        total = sum(p for p, _ in candidates.values())
        ordered = sorted(candidates.items(), key=lambda kv: (-kv[1][0], kv[0][0], str(kv[0][1])))
        for (text, factor), (prior, factor_prior) in ordered:
            child = node.add_child(Step(text, factor), prior / total, factor_prior)
            self.stats.nodes += 1
            answer = self.checker.extract_answer(text)
            if answer is not None:
                verdict = self.checker.verify(root.gold, answer)
                child.terminal, child.reason, child.answer = True, "answer", answer
                child.reward = 1.0 if verdict.correct else -1.0
                result.found.append(Found(child, (), answer, bool(verdict.correct), verdict.status,
                                          getattr(verdict, "detail", "")))

    def run(self, roots: Sequence[SearchRoot]) -> list[SearchResult]:
        """The search of ``roots``, run against this expander's backend one yield at a time."""
        return drive(self.search(roots), self.backend)

    def search(self, roots: Sequence[SearchRoot]) -> Program[list[SearchResult]]:
        """The search as a program: each round selects ``parallel_leaves`` leaves per root (with a
        virtual loss on each selected path, AlphaZero's way to spread one round over a tree; one
        leaf is today's plain search, no virtual loss), expands and evaluates them all in two yields."""
        s = self.settings
        k = max(1, s.parallel_leaves)
        results = [SearchResult(Node(None)) for _ in roots]
        self.stats.nodes += len(results)
        for round_ in range(-(-s.simulations // k)):
            width = min(k, s.simulations - round_ * k)
            picks = [(i, leaf) for i, r in enumerate(results) for leaf in select_leaves(r.root, s.c_puct, width)]
            self.stats.simulations += len(picks)
            grow = [(i, leaf) for i, leaf in picks if not leaf.terminal and not leaf.expanded and leaf.depth < s.max_depth]
            requests = [(i, leaf, self._expansion_requests(roots[i], leaf)) for i, leaf in grow]
            outputs = iter((yield from self._call([r for _, _, group in requests for r in group])))
            grown_outputs = [(i, leaf, group, [next(outputs) for _ in group]) for i, leaf, group in requests]
            chosen: dict[int, dict[tuple[str, str | None], tuple[float, list[tuple[str, float | None, bool]]]]] = {}
            if self.best_of > 1:
                grown_outputs, chosen = yield from self._best_of(roots, grown_outputs)
            for i, leaf, group, outs in grown_outputs:
                self._expand(roots[i], leaf, group, outs, results[i])
                for child in leaf.children:
                    if child.step is not None and (child.step.text, child.step.factor) in chosen.get(id(leaf), {}):
                        score, pool = chosen[id(leaf)][(child.step.text, child.step.factor)]
                        child.score, child.candidates = score, tuple((t, sc, k) for t, sc, k in pool)  # type: ignore[misc]
            grown = {id(leaf) for _, leaf in grow}
            targets = [(i, child) for i, leaf in grow for child in leaf.children]
            targets += [(i, leaf) for i, leaf in picks if id(leaf) not in grown or not leaf.children]
            for _, leaf in picks:
                leaf.revert_virtual_loss(width > 1)
            yield from self._evaluate(roots, results, targets)
        return results

    def _best_of(self, roots: Sequence[SearchRoot], grown: list[tuple[int, Node, list[GenRequest], list[list[Completion]]]]
                 ) -> Program[tuple[list, dict]]:
        """Each request's samples in groups of ``best_of``; of each group the one the value model scores
        highest (ties: the earlier sample) is kept, all of them remembered as the kept child's candidates."""
        groups: list[tuple[int, int, list[Completion], list[str]]] = []  # (grown index, request index, group, texts)
        asks: list[ScoreRequest] = []
        for g, (i, leaf, group, outs) in enumerate(grown):
            for r, (request, completions) in enumerate(zip(group, outs, strict=True)):
                for start in range(0, len(completions), self.best_of):
                    chunk = completions[start:start + self.best_of]
                    texts = [first_step(c.text) for c in chunk]
                    groups.append((g, r, chunk, texts))
                    asks += [self._score_request(roots[i], leaf, Step(t, request.key)) for t in texts if t]
        answers = iter((yield from self._call(asks)))
        kept: list[list[list[Completion]]] = [[[] for _ in group] for _, _, group, _ in grown]
        chosen: dict[int, dict[tuple[str, str | None], tuple[float, list[tuple[str, float | None, bool]]]]] = {}
        for g, r, chunk, texts in groups:
            scores: list[float | None] = [score_of(next(answers)) if t else None for t in texts]
            best = max((j for j, t in enumerate(texts) if t), key=lambda j: (scores[j], -j), default=None)
            if best is None:
                continue
            kept[g][r].append(chunk[best])
            i, leaf, group, _ = grown[g]
            pool = [(t, sc, j == best) for j, (t, sc) in enumerate(zip(texts, scores, strict=True))]
            key = (texts[best], group[r].key)
            mine = chosen.setdefault(id(leaf), {})
            if key in mine:  # the same text kept from two groups: one child, both groups' candidates
                mine[key][1].extend(pool)
            else:
                mine[key] = (scores[best], pool)  # type: ignore[assignment]
        return [(i, leaf, group, kept[g]) for g, (i, leaf, group, _) in enumerate(grown)], chosen

    def _evaluate(self, roots: Sequence[SearchRoot], results: list[SearchResult],
                  targets: list[tuple[int, Node]]) -> Program[None]:
        """Score each target and back it up: a terminal node by its verdict; any other by one rollout
        (``value_mix`` > 0) and the value model (``value_mix`` < 1), mixed; both asked in one yield."""
        s = self.settings
        pending = [(i, node) for i, node in targets if not node.terminal]
        rolled = pending if (s.value_mix > 0 or not s.value_model) else []
        to_score = [(i, node) for i, node in pending if s.value_model and s.value_mix < 1 and node.score is None]
        requests: list = [self._rollout_request(roots[i], node) for i, node in rolled]
        requests += [self._score_request(roots[i], node) for i, node in to_score]
        outputs = yield from self._call(requests)
        for (_i, node), answer in zip(to_score, outputs[len(rolled):], strict=True):
            node.score = score_of(answer)
        values: dict[int, float] = {}
        hits: dict[int, bool] = {}
        for (i, node), completions in zip(rolled, outputs[:len(rolled)], strict=True):
            self.stats.rollouts += 1
            steps, answer = rollout_steps(completions[0].text if completions else "", self.checker.extract_answer)
            first = node.rollout is None  # a leaf at the depth limit is rolled out again when selected again
            if first:
                node.rollout, node.rollout_answer = tuple(s.text for s in steps), answer
            hits[id(node)] = False
            if answer is None:
                results[i].no_answer += 1
                values[id(node)] = -1.0
                continue
            verdict = self.checker.verify(roots[i].gold, answer)
            values[id(node)] = 1.0 if verdict.correct else -1.0
            hits[id(node)] = bool(verdict.correct)
            if first:
                node.rollout_correct = bool(verdict.correct)
            results[i].found.append(Found(node, tuple(steps), answer, bool(verdict.correct), verdict.status,
                                          getattr(verdict, "detail", "")))
        for _i, node in targets:
            if node.terminal:
                value = node.reward if node.reward is not None else -1.0
                hit = value > 0
            else:
                value, hit = self._leaf_value(values.get(id(node)), node.score), hits.get(id(node), False)
            self.stats.terminal_hits += node.terminal
            if node.value is None and node.reason != "dead_end":  # its own evaluation (a dead end's is its rollout)
                node.value = value
            node.backup(value, hit, checked=node.terminal or id(node) in values)

    def _leaf_value(self, rollout: float | None, score: float | None) -> float:
        """lambda * rollout + (1 - lambda) * (2 * score - 1); either alone where the other is not asked for."""
        s = self.settings
        if not s.value_model or score is None:
            return rollout if rollout is not None else -1.0
        model = 2.0 * score - 1.0
        if rollout is None:
            return model
        return s.value_mix * rollout + (1.0 - s.value_mix) * model


def score_of(answer: list) -> float:
    """The value of a prefix from a score request's answer: the reward model's score of its last step."""
    scores = answer[0] if answer else None
    if not isinstance(scores, StepScores):
        raise TypeError(f"a score request was answered with {type(scores).__name__}: is a value model served?")
    return scores.last
