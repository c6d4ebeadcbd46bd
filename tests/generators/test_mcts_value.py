"""MCTS with a value model: leaf values from a (scripted) process reward model, --value-mix, --best-of.

The policy is ``ScriptedPolicy`` and the reward ``ScriptedReward``: test doubles, named as such. The real
reward models are tested in tests/generators/reward/.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from generators.engine.engine import Engine, EngineSettings
from generators.reward.base import ScoreRequest
from generators.reward.routing import WithReward
from generators.reward.scripted import ScriptedReward
from generators.reward.spec import RewardSpec
from generators.search import MCTSExpander, MCTSSettings, Node, SearchRoot, trajectory_labels
from schemas.records import Step
from tests.generators.search_policy import ScriptedPolicy
from verifiers.math_answer import MathVerifier

FACTORS = (("Compute", "do arithmetic"), ("Verify", "check a result"), ("Plan", "say what to do next"))


@pytest.fixture()
def verifier() -> Iterator[MathVerifier]:
    v = MathVerifier()
    yield v
    v.close()


def root(key: str = "s1#cut1") -> SearchRoot:
    return SearchRoot(key, "Tom has 40 apples and buys 2. How many?", "42", (Step("There are 40 apples."),))


def backend(reward: str, **policy) -> WithReward:
    return WithReward(ScriptedPolicy(**policy), ScriptedReward(RewardSpec("scripted", reward)))


def most_visited_line(node: Node) -> list[Node]:
    line = []
    while node.children:
        node = max(node.children, key=lambda c: (c.visits, -c.path[-1]))
        line.append(node)
    return line


def rollout_requests(policy: ScriptedPolicy) -> int:
    return sum(1 for call in policy.calls for r in call if "Write the next step" not in r.messages[-1][1]
               and "Write the first step" not in r.messages[-1][1])


def test_value_mix_zero_spends_no_rollouts_and_follows_the_preferred_factor(verifier):
    both = backend("Compute", answer_after=4)
    settings = MCTSSettings(simulations=12, branching=3, factors=FACTORS, value_model="scripted:Compute", value_mix=0.0)
    expander = MCTSExpander(both, verifier, settings)
    [result] = expander.run([root()])
    assert expander.stats.rollouts == 0 and rollout_requests(both.policy) == 0
    assert expander.stats.scored > 0 and both.reward.scored == expander.stats.scored
    line = most_visited_line(result.root)
    assert len(line) >= 2 and all(n.step.factor == "Compute" for n in line)
    for node in result.root.walk()[1:]:  # every evaluated non-terminal child has the reward model's score
        if not node.terminal and node.value is not None:
            assert node.score == pytest.approx(0.9 if node.step.factor == "Compute" else 0.1)
            assert node.value == pytest.approx(2 * node.score - 1)
    # hits come from the verifier alone: a PRM value above 0 is no reached answer
    assert all(n.hits == 0 for n in result.root.walk() if not any(c.terminal for c in n.walk()))
    # a node only the value model evaluated is visited but unchecked, and no label claims it was measured
    unchecked = [n for n in result.root.walk()[1:] if n.visits and not n.checks]
    assert unchecked and all(n.checks <= n.visits for n in result.root.walk())
    assert result.found  # answers stated inside the tree: its trajectories
    for found in result.found:
        labels = trajectory_labels(1, result.root, found)
        for node, hard, rollouts in zip(found.node.lineage(), labels.hard[1:], labels.rollouts[1:], strict=False):
            assert rollouts == node.checks
            if node.checks == 0 and not found.correct and node is not found.node:
                assert hard is None


def test_value_mix_blends_rollout_and_reward(verifier):
    both = backend("Compute")
    settings = MCTSSettings(simulations=4, branching=3, factors=FACTORS, value_model="scripted:Compute", value_mix=0.25)
    expander = MCTSExpander(both, verifier, settings)
    [result] = expander.run([root()])
    rolled = [n for n in result.root.walk() if n.rollout is not None and not n.terminal]
    assert rolled and expander.stats.rollouts > 0
    for node in rolled:
        r = 1.0 if node.rollout_correct else -1.0
        assert node.value == pytest.approx(0.25 * r + 0.75 * (2 * node.score - 1))
    # the rollouts reached the gold answer: hits count them, whatever the blended value
    leaves = [n for n in rolled if not n.children and n.visits == 1]
    assert leaves and all(n.hits == int(bool(n.rollout_correct)) for n in leaves)
    assert 0 < result.root.hits <= result.root.visits


def test_value_mix_one_with_a_value_model_is_the_rollout_search(verifier):
    plain = MCTSExpander(ScriptedPolicy(), verifier, MCTSSettings(simulations=6, branching=2))
    with_model = MCTSExpander(backend("Compute"), verifier,
                              MCTSSettings(simulations=6, branching=2, value_model="scripted:Compute", value_mix=1.0))
    [a], [b] = plain.run([root()]), with_model.run([root()])
    values = lambda r: [(n.path, n.visits, n.value) for n in r.root.walk()]  # noqa: E731
    assert values(a) == values(b) and with_model.stats.scored == 0


def test_best_of_keeps_the_highest_scored_of_n_and_records_all(verifier):
    rules = json.dumps({"rules": [["C3", 0.9], ["B2", 0.6], ["A1", 0.2], ["D4", 0.1]], "default": 0.5})
    both = backend(rules, steps=("A1 add", "B2 add", "C3 add", "D4 add"), logprobs=(-1.0,), answer_after=3)
    settings = MCTSSettings(simulations=8, branching=1, value_model="scripted", value_mix=0.0, best_of=4)
    expander = MCTSExpander(both, verifier, settings)
    [result] = expander.run([root()])
    expansions = [n for n in result.root.walk() if n.expanded and n.children]
    assert expansions
    for node in expansions:
        for child in node.children:
            assert child.candidates is not None and len(child.candidates) == 4
            kept = [c for c in child.candidates if c[2]]
            assert len(kept) == 1 and kept[0][0] == child.step.text
            assert child.score == max(c[1] for c in child.candidates)
    first = result.root.children[0]
    assert first.step.text == "C3 add" and [c[0] for c in first.candidates] == ["A1 add", "B2 add", "C3 add", "D4 add"]
    # every expansion asked for 4 samples per candidate
    assert all(r.params.n == 4 for call in both.policy.calls for r in call if "next step" in r.messages[-1][1]
               or "first step" in r.messages[-1][1])


def test_best_of_per_factor(verifier):
    both = backend("Compute", steps=("x", "y"), logprobs=(-1.0, -2.0))
    settings = MCTSSettings(simulations=3, branching=3, factors=FACTORS, value_model="scripted:Compute", best_of=2)
    expander = MCTSExpander(both, verifier, settings)
    [result] = expander.run([root()])
    children = result.root.children
    assert sorted({c.step.factor for c in children}) == sorted(f for f, _ in FACTORS)
    assert all(len(c.candidates) == 2 for c in children)


def test_rows_settings_name_the_value_model():
    plain = MCTSSettings()
    assert "value" not in repr(plain) and "value" not in plain.prompt_version
    valued = MCTSSettings(value_model="prm:/m", value_mix=0.0, best_of=4)
    assert "prm:/m" in repr(valued) and valued.prompt_version.endswith("+value_mix:0+best_of:4")


def test_score_requests_share_the_engine_with_generation(verifier):
    both = backend("Compute")
    engine = Engine(both, EngineSettings(inflight=8, max_batch_sequences=64))
    settings = MCTSSettings(simulations=4, branching=3, factors=FACTORS, value_model="scripted:Compute", value_mix=0.5)
    try:
        for k in range(3):
            engine.submit("t", k, MCTSExpander(both, verifier, settings).search([root(f"s{k}#cut1")]))
        finished = engine.drain("t")
    finally:
        engine.close()
    assert len(finished) == 3 and all(f.error is None for f in finished)
    assert both.score_calls > 0
    mixed = [call for call in both.policy.calls if len(call) > 1]
    assert mixed  # merged generation calls across programs
    assert isinstance(ScoreRequest("p", ()).params.n, int)


def test_a_score_request_without_a_value_model_fails_clearly(verifier):
    settings = MCTSSettings(simulations=2, branching=2, value_model="scripted", value_mix=0.0)
    with pytest.raises(ValueError, match="serves none"):
        MCTSExpander(ScriptedPolicy(), verifier, settings)
