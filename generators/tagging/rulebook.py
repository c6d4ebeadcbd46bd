"""Built-in rules for the default factor names, on top of the vocabulary's cues (issue 14).

The vocabulary's cues say which words point to a factor; they cannot say *where in the chain* a
phrase counts, or that a phrase only counts when the step reaches no result. These rules can:
"The next step is to find ..." is a plan (``Decompose``) unless the step also computes the
thing; "Therefore" opening a step is a conclusion on the chain's final step but a derivation
in the middle when it carries arithmetic; "we need to find" restates the goal at the first
step and announces a sub-goal later. Each rule adds its weight (negative ones cancel a
misleading cue) to one factor; rules whose factor is not in the vocabulary are skipped, so a
custom ``--factors`` file is driven by its own cues alone.

Rules are data: a factor, a regular expression searched (case-insensitively) in the step's head
after any list marker, a weight, and the place and kind of step where it applies. Measured on
``benchmarks/data/tagging_dev.jsonl``; ``tagging_heldout.jsonl`` was labelled first and never
tuned on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Where = Literal["any", "first", "later", "final", "not_final"]
Needs = Literal["any", "result", "no_result"]

#: words that open a concluding sentence
CONNECTIVE = r"(?:therefore|thus|hence|so|consequently|in total|in all|altogether|all together|overall|in conclusion)\b"
_GOAL_VERBS = (r"(?:find|compute|calculate|determine|figure out|work out|get|count|convert|subtract|add|multiply|divide|"
               r"look at|solve|deal with|handle|turn to|know)")


@dataclass(frozen=True)
class Rule:
    """One weighted pattern for one factor; ``where`` is the step's place, ``needs`` whether it reaches a result."""

    factor: str
    pattern: str
    weight: float
    where: Where = "any"
    needs: Needs = "any"
    why: str = ""


RULES: tuple[Rule, ...] = (
    # planning lines: a sub-goal or next move announced, not carried out (the 71%-Compute complaint)
    Rule("Decompose", r"^(?:the |our |my )?next step (?:is|will be|would be) (?:to|finding|computing)\b", 4.0, needs="no_result",
         why="'The next step is to find out ...'"),
    Rule("Decompose", r"^(?:first|firstly|next|now|then|after that|second|secondly|finally)\b,?\s*(?:(?:we|i)"
         r"(?:'ll| will| need to| have to| should| must| can| want to)?|let's|let us|let me)\s+(?:now\s+|next\s+)?"
         + _GOAL_VERBS + r"\b", 4.0,
         needs="no_result", why="'First, let's find ...', 'Next, we find ...', 'Now we need to compute ...'"),
    Rule("Decompose", r"^(?:let's|let us|let me|we'll|we will|i'll|i will) (?:now |next |first )?(?:find|figure out|work out|"
         r"determine|calculate|compute|get|count)\b", 4.0, where="later", needs="no_result", why="'Let's find how many ...'"),
    Rule("Decompose", r"^(?:so |and |but )?(?:we|i) (?:now |still |then |next )?(?:need|have|want) to " + _GOAL_VERBS + r"\b",
         4.0, where="later", needs="no_result", why="a sub-goal after the first step is a plan, not the task restated"),
    Rule("Decompose", r"\b(?:continue|go on|move on) (?:the problem |the solution )?(?:with|to) the next step\b", 3.0,
         needs="no_result", why="a hand-over to the next step"),
    # the task restated at the start, in the forms code and model CoTs use
    Rule("RephraseTarget", r"^(?:so |okay,? |ok,? )?(?:i|we) (?:need|have|want|am asked|are asked|must) to\b", 3.0, where="first",
         needs="no_result"),
    Rule("RephraseTarget", r"^(?:so,? )?(?:the |this |my |our )?(?:function|task|goal|job|program|script|method|problem) "
         r"(?:is to|has to|should|must|needs to|asks (?:for|us))\b", 3.0, where="first", needs="no_result"),
    Rule("RephraseTarget", r"^we are (?:looking for|asked|told|given|trying to)\b", 3.0, where="first", needs="no_result"),
    # conclusions: a connective counts in full on the final step; mid-chain with arithmetic it is a derivation
    Rule("Conclude", "^" + CONNECTIVE, 3.0, where="final", why="'In total, ... = 14 apples.' as the last step"),
    Rule("Compute", "^" + CONNECTIVE, 2.0, where="not_final", needs="result",
         why="'Therefore, we have ... = 59' in the middle of a chain derives, it does not conclude"),
    Rule("Conclude", r"^.{3,}?\b(?:therefore|thus|hence)\b", -2.0, needs="result",
         why="'..., therefore the Skechers cost 5 * 600 = 3000 dollars' computes"),
    Rule("Conclude", r"^(?:finally,? |so,? |then,? |in the end,? )?(?:the function|the method|it|i|we)(?:'ll| will)? "
         r"(?:returns?|gives back|hands back|outputs?)\b", 3.0, where="final", why="a code CoT's last step says what comes back"),
    Rule("Conclude", r"^(?:finally,? )?(?:i|we)(?:'ll| will)? return\b", 3.0, where="final"),
    Rule("Conclude", r"^(?!.*\b(?:maybe|perhaps|might|guess)\b).*?(?:\b(?:the|our|my) (?:final )?answer (?:is|must be|will be)\b|"
         r"\bwhich is (?:the|our) (?:final )?answer\b)", 2.0,
         why="naming the answer (not a hedged guess at it) outweighs the mid-chain rule"),
    Rule("Conclude", r"^\$?\s*\\(?:textbf|text|mathrm)\s*\{\s*\(?[A-E]\)?", 3.0, why="a step opening with an answer choice"),
    # derivations that open with a reason, not a restatement (minif2f's informal proofs)
    Rule("Compute", r"^(?:since|because|note that|notice that|we note|we notice|recall|it follows|this means)\b", 1.0),
    Rule("Compute", r"\b(?:gives|yields|we get|we find|leaves)\b[^.=]{0,40}\b[a-z]\s*=\s*-?\d", 1.0, why="'... gives x = 3'"),
    # candidates and methods put forward
    Rule("Proposer", r"\b(?:one|another|a second|an alternative) (?:option|way|approach|idea|method)\b|\binstead of\b|"
         r"\bcandidates?\b|\b(?:we|i|it|this|that|which) could\b|\bcould (?:pick|use|work|help|do|be used)\b", 2.0),
    Rule("Proposer", r"^(?:let's|let us|let me|i'll|i will|we'll|we will) (?:use|list|guess|go with)\b", 2.0),
    # checks that something already holds, refusals of an approach
    Rule("Verify", r"\balready (?:does|handles|covers|gives|works|returns)\b|\b(?:that|this|which) is right\b", 2.0),
    Rule("Refute", r"\b(?:doesn't|does not|wouldn't|would not|won't|will not) help\b", 2.0),
)


@dataclass(frozen=True)
class CompiledRule:
    """A rule with its pattern compiled."""

    factor: str
    pattern: re.Pattern[str]
    weight: float
    where: Where
    needs: Needs


def compile_rules(names: tuple[str, ...], rules: tuple[Rule, ...] = RULES) -> tuple[CompiledRule, ...]:
    """The rules whose factor the vocabulary has, compiled."""
    return tuple(CompiledRule(r.factor, re.compile(r.pattern, re.IGNORECASE), r.weight, r.where, r.needs)
                 for r in rules if r.factor in names)


def applies(rule: CompiledRule, index: int, final: int, result: bool) -> bool:
    """Whether a rule's place and result conditions hold for a step."""
    if rule.needs == "result" and not result or rule.needs == "no_result" and result:
        return False
    return {"any": True, "first": index == 0, "later": index > 0, "final": index == final,
            "not_final": index != final}[rule.where]
