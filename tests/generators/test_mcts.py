"""MCTS logic with a scripted policy (a test double) and the real math verifier."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from generators.backends.base import Completion
from generators.search import MCTSExpander, MCTSSettings, Node, SearchRoot, puct, select, trajectory_labels
from generators.search.mcts import first_step, priors, rollout_steps
from schemas.records import Step
from tests.generators.search_policy import ScriptedPolicy
from verifiers.math_answer import MathVerifier, extract_answer


@pytest.fixture(scope="module")
def verifier() -> Iterator[MathVerifier]:
    with MathVerifier() as v:
        yield v


def root(key: str = "s1#cut1", prefix: tuple[str, ...] = ("There are 40 apples.",)) -> SearchRoot:
    return SearchRoot(key, "Tom has 40 apples and buys 2. How many?", "42", tuple(Step(t) for t in prefix))


def tree_signature(node: Node) -> tuple:
    return (node.step, node.visits, round(node.value_sum, 6), round(node.prior, 6),
            tuple(tree_signature(c) for c in node.children))


# -- the tree ---------------------------------------------------------------------------------
def test_puct_score_is_q_plus_prior_exploration():
    parent = Node(None, visits=9)
    child = parent.add_child(Step("a"), prior=0.5)
    child.visits, child.value_sum = 3, 1.5
    assert puct(child, parent.visits, c_puct=2.0) == pytest.approx(0.5 + 2.0 * 0.5 * 3 / 4)


def test_select_prefers_prior_when_unvisited_then_value():
    r = Node(None, expanded=True, visits=2)
    low = r.add_child(Step("low"), prior=0.2)
    high = r.add_child(Step("high"), prior=0.8)
    assert select(r, c_puct=1.0) is high
    # the high-prior child turned out bad, the other good: with exploration small, value wins
    high.visits, high.value_sum = 5, -5.0
    low.visits, low.value_sum = 1, 1.0
    r.visits = 6
    assert select(r, c_puct=0.1) is low
    # equal scores: the earlier child
    r2 = Node(None, expanded=True, visits=1)
    first = r2.add_child(Step("x"), prior=0.5)
    r2.add_child(Step("y"), prior=0.5)
    assert select(r2, 1.0) is first


def test_backup_adds_to_every_ancestor():
    r = Node(None)
    a = r.add_child(Step("a"), 1.0)
    b = a.add_child(Step("b"), 1.0)
    b.backup(1.0)
    b.backup(-1.0)
    a.backup(1.0)
    assert (r.visits, r.value_sum) == (3, 1.0)
    assert (a.visits, a.value_sum) == (3, 1.0)
    assert (b.visits, b.value_sum, b.q, b.soft, b.wins) == (2, 0.0, 0.0, 0.5, 1)
    assert b.steps() == [Step("a"), Step("b")] and b.lineage() == [a, b] and b.path == (0, 0)


def test_priors_normalise_per_token_likelihoods_or_fall_back_to_uniform():
    got = priors([Completion("a", 2, logprob=-2.0), Completion("b", 1, logprob=-2.0)])
    e1, e2 = math.exp(-1.0), math.exp(-2.0)
    assert got == pytest.approx([e1 / (e1 + e2), e2 / (e1 + e2)])
    assert priors([Completion("a", 2, logprob=None), Completion("b", 1, logprob=-1.0)]) == [0.5, 0.5]
    assert priors([]) == []


def test_step_and_rollout_parsing():
    assert first_step("\n\n  First, add 2.  \nThen more") == "First, add 2."
    assert first_step("   \n") == ""
    steps, answer = rollout_steps("So 40 + 2 = 42.\nThe answer is 42.\nExtra chatter after the answer.", extract_answer)
    assert [s.text for s in steps] == ["So 40 + 2 = 42.", "The answer is 42."] and answer == "42"
    assert rollout_steps("no answer here\nat all", extract_answer) == ([Step("no answer here"), Step("at all")], None)


# -- the search -------------------------------------------------------------------------------
def test_candidates_of_a_node_go_in_one_request_and_roots_share_calls(verifier):
    policy = ScriptedPolicy()
    settings = MCTSSettings(simulations=3, branching=4, max_depth=6)
    roots = [root("s#cut1"), root("s#cut2", ("There are 40 apples.", "He buys 2 more."))]
    MCTSExpander(policy, verifier, settings).run(roots)
    expansion_calls = [c for c in policy.calls if "Write the" in c[0].messages[-1][1]]
    for call in expansion_calls:
        assert all(r.params.n == 4 for r in call)  # K candidates of one node: one request
        assert len(call) <= len(roots)  # at most one request per root per simulation
    assert len(expansion_calls[0]) == 2  # both roots expanded together in the first round
    assert len(policy.calls) <= 2 * settings.simulations  # one expansion and one rollout call a round


def test_values_back_up_and_good_branch_wins(verifier):
    policy = ScriptedPolicy()
    settings = MCTSSettings(simulations=8, branching=2, max_depth=6, c_puct=1.0)
    [result] = MCTSExpander(policy, verifier, settings).run([root()])
    good, bad = result.root.children  # sorted by prior: the likelier "Add the apples." first
    assert good.step.text == "Add the apples." and bad.step.text.startswith("Poison")
    assert good.q > 0 > bad.q
    assert result.root.visits == sum(c.visits for c in result.root.children)
    assert result.root.value_sum == pytest.approx(sum(c.value_sum for c in result.root.children))
    assert good.visits > bad.visits  # PUCT spent the budget where the value is
    verified = [f for f in result.found if f.correct]
    wrong = [f for f in result.found if not f.correct]
    assert verified and wrong  # right and wrong trajectories are both kept
    assert all("Poison" in " ".join(s.text for s in f.steps()) for f in wrong)


def test_budgets_are_respected(verifier):
    policy = ScriptedPolicy(answer_after=99)  # never states an answer: the tree only grows
    settings = MCTSSettings(simulations=5, branching=3, max_depth=2)
    expander = MCTSExpander(policy, verifier, settings)
    [result] = expander.run([root()])
    s = expander.stats
    assert s.simulations == 5 and s.expansions <= 5
    assert s.rollouts <= 5 * 3
    assert result.root.visits == s.rollouts + s.terminal_hits

    def depth(node: Node) -> int:
        return max([depth(c) for c in node.children], default=node.depth)

    assert depth(result.root) <= 2


def test_a_step_that_states_the_answer_is_terminal_and_scored_without_rollout(verifier):
    policy = ScriptedPolicy(answers=("The answer is 42.", "The answer is 41."), answer_after=0, logprobs=(None,))
    expander = MCTSExpander(policy, verifier, MCTSSettings(simulations=4, branching=2))
    [result] = expander.run([root()])
    right, wrong = sorted(result.root.children, key=lambda c: c.step.text, reverse=True)
    assert right.terminal and right.answer == "42" and right.reward == 1.0
    assert wrong.terminal and wrong.reward == -1.0
    assert expander.stats.rollouts == 0 and expander.stats.terminal_hits >= 2
    assert right.prior == wrong.prior == 0.5  # no log-probs: uniform priors
    assert {(f.answer, f.correct) for f in result.found} == {("42", True), ("41", False)}


def test_deterministic_under_a_seed(verifier):
    def run(seed: int):
        policy = ScriptedPolicy(noisy=True)
        [result] = MCTSExpander(policy, verifier, MCTSSettings(simulations=6, branching=3, seed=seed)).run([root()])
        return tree_signature(result.root), [(f.answer, [s.text for s in f.steps()]) for f in result.found]

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_empty_policy_output_is_a_dead_end(verifier):
    policy = ScriptedPolicy(steps=("   ",), answers=("",))
    expander = MCTSExpander(policy, verifier, MCTSSettings(simulations=3, branching=2))
    [result] = expander.run([root()])
    assert result.root.terminal and result.root.reason == "dead_end" and not result.found
    assert expander.stats.dead_ends == 1 and result.root.q == -1.0


def test_endless_rollout_without_answer_scores_minus_one(verifier):
    policy = ScriptedPolicy(answer_after=99, rollout="and so on " * 5000)
    [result] = MCTSExpander(policy, verifier, MCTSSettings(simulations=2, branching=2)).run([root()])
    assert result.no_answer >= 2 and not result.found
    assert all(c.q == -1.0 for c in result.root.children if c.visits)


def test_factor_actions_name_a_factor_per_request(verifier):
    policy = ScriptedPolicy(answer_after=99)
    factors = (("Compute", "carries out a calculation"), ("Verify", "checks a result"))
    settings = MCTSSettings(simulations=1, branching=4, factors=factors)
    [result] = MCTSExpander(policy, verifier, settings).run([root()])
    call = policy.calls[0]
    assert sorted(r.key for r in call) == ["Compute", "Verify"] and all(r.params.n == 2 for r in call)  # 4 over 2
    assert all(f"a {r.key} step" in r.messages[-1][1] for r in call)
    assert {c.step.factor for c in result.root.children} <= {"Compute", "Verify"}
    assert settings.prompt_version.startswith("mcts_step_factor/")


# -- labels of a found trajectory ---------------------------------------------------------------
def test_trajectory_labels_label_only_what_was_measured(verifier):
    policy = ScriptedPolicy()
    [result] = MCTSExpander(policy, verifier, MCTSSettings(simulations=6, branching=2)).run([root()])
    assert any(f.correct for f in result.found) and any(not f.correct for f in result.found)
    for found in result.found:
        labels = trajectory_labels(1, result.root, found)
        n = 1 + len(found.steps())
        assert len(labels.hard) == len(labels.soft) == len(labels.rollouts) == len(labels.correct) == len(labels.q) == n
        assert labels.rollouts[0] == result.root.visits and labels.q[0] == pytest.approx(result.root.q)
        assert labels.hard[-1] == found.correct and labels.soft[-1] == (1.0 if found.correct else 0.0)
        assert labels.soft[:-1] == [None] * (n - 1)  # a tree's evaluations are not independent completions
        lineage = found.node.lineage()
        for j, node in enumerate(lineage):
            assert labels.correct[1 + j] == node.wins and labels.q[1 + j] == pytest.approx(node.q)
            if not found.correct and 1 + j < n - 1:
                assert labels.hard[1 + j] == (node.wins > 0)
        if found.correct:  # the trajectory is itself a completion from each of its prefixes that succeeds
            assert all(labels.hard)
        else:  # a wrong trajectory's rollout steps: nothing measured them
            rollout_at = 1 + len(lineage)
            assert all(h is None for h in labels.hard[rollout_at:-1])
            assert all(labels.rollouts[i] == 0 for i in range(rollout_at, n))


def test_a_wrong_rollout_leaves_its_steps_unlabelled(verifier):
    policy = ScriptedPolicy(steps=("Poison: subtract instead.",), answer_after=99)
    [result] = MCTSExpander(policy, verifier, MCTSSettings(simulations=1, branching=1)).run([root()])
    [found] = result.found
    labels = trajectory_labels(1, result.root, found)
    # root (no correct evaluation: false), the tree step (false), "Then we finish." (unmeasured), the answer (false)
    assert labels.hard == [False, False, None, False]
    assert labels.soft == [None, None, None, 0.0]


# -- the whole tree ---------------------------------------------------------------------------------
def test_every_node_keeps_its_own_evaluation_and_visits_add_up(verifier):
    policy = ScriptedPolicy()
    expander = MCTSExpander(policy, verifier, MCTSSettings(simulations=8, branching=2))
    [result] = expander.run([root()])
    nodes = result.root.walk()
    assert len(nodes) == expander.stats.nodes and nodes[0] is result.root
    for node in nodes:
        if node.children:  # each evaluation below a node is one of a child's, or the node's own
            own = 0 if node.value is None else 1
            assert node.visits == sum(c.visits for c in node.children) + own
        if node.parent is not None:
            assert node.value in (1.0, -1.0) and node.visits >= 1  # every child is evaluated when created
            if node.rollout is not None:
                assert node.rollout_answer in ("42", "7") and node.rollout_correct == (node.rollout_answer == "42")
    assert result.root.value is None  # the root is the human prefix: never evaluated by itself
    assert result.root.visits == sum(c.visits for c in result.root.children)


def test_factor_actions_try_every_factor_with_a_prior_over_factors(verifier):
    policy = ScriptedPolicy(answer_after=99)
    factors = tuple((f"F{i}", f"factor {i}") for i in range(8))
    settings = MCTSSettings(simulations=3, branching=4, factors=factors)
    [result] = MCTSExpander(policy, verifier, settings).run([root()])
    call = policy.calls[0]
    assert sorted(r.key for r in call) == sorted(f for f, _ in factors) and all(r.params.n == 1 for r in call)
    for node in result.root.walk():
        if node.expanded and node.children:
            assert {c.step.factor for c in node.children} == {f for f, _ in factors}
            assert sum(c.prior for c in node.children) == pytest.approx(1.0)
            assert all(c.factor_prior == pytest.approx(1 / 8) for c in node.children)
    assert "factors:all" in settings.prompt_version


def test_factor_subset_draws_k_factors_per_node(verifier):
    policy = ScriptedPolicy(answer_after=99)
    factors = tuple((f"F{i}", f"factor {i}") for i in range(8))
    settings = MCTSSettings(simulations=4, branching=4, factors=factors, factor_subset=3)
    [result] = MCTSExpander(policy, verifier, settings).run([root()])
    assert all(len(call) == 3 for call in policy.calls if all(r.key for r in call))
    for node in result.root.walk():
        if node.expanded and node.children:
            assert len({c.step.factor for c in node.children}) == 3
            assert all(c.factor_prior == pytest.approx(1 / 3) for c in node.children)
    assert settings.prompt_version.endswith("+factors:3") and "factor_subset=3" in repr(settings)


# -- parallel leaves (virtual loss) -------------------------------------------------------------
def test_parallel_leaves_spread_one_round_and_leave_no_virtual_loss(verifier):
    def all_nodes(node: Node) -> list[Node]:
        return [node] + [n for c in node.children for n in all_nodes(c)]

    def search(k: int):
        policy = ScriptedPolicy(answer_after=99)
        expander = MCTSExpander(policy, verifier, MCTSSettings(simulations=12, branching=3, seed=3, parallel_leaves=k))
        [result] = expander.run([root()])
        return expander, result

    plain, plain_result = search(1)
    wide, wide_result = search(4)
    assert wide.stats.backend_calls < plain.stats.backend_calls  # fewer, larger yields: 3 rounds, not 12
    assert 3 < wide.stats.simulations <= 12  # rounds that selected several leaves
    for node in all_nodes(wide_result.root):
        assert node.virtual == 0  # every virtual loss taken back
        assert node.visits >= sum(c.visits for c in node.children)
    assert tree_signature(search(4)[1].root) == tree_signature(wide_result.root)  # deterministic too
    assert tree_signature(plain_result.root) == tree_signature(search(1)[1].root)


def test_virtual_loss_steers_the_next_selection_elsewhere():
    r = Node(None, expanded=True, visits=2)
    a = r.add_child(Step("a"), prior=0.6)
    b = r.add_child(Step("b"), prior=0.4)
    from generators.search.tree import select_leaves

    picked = select_leaves(r, c_puct=1.0, k=2)
    assert picked == [a, b] and (a.virtual, b.virtual, r.virtual) == (1, 1, 2)
    for leaf in picked:
        leaf.revert_virtual_loss()
    assert (a.visits, b.visits, r.visits, r.value_sum, a.virtual) == (0, 0, 2, 0.0, 0)
    assert select_leaves(r, 1.0, 1) == [a] and a.virtual == 0  # one leaf: no virtual loss


def test_plain_search_keeps_its_ids_and_rows_say_k():
    assert "parallel_leaves" not in repr(MCTSSettings()) and "parallel_leaves=4" in repr(MCTSSettings(parallel_leaves=4))
    assert MCTSSettings().prompt_version == "mcts_step/v1+shepherd_continue/v1"
    assert MCTSSettings(parallel_leaves=4).prompt_version.endswith("+parallel_leaves:4")
