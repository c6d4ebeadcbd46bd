"""Turn public step-by-step datasets into seeds (GSM8K, PRM800K)."""

from __future__ import annotations

import re
from typing import Any

from schemas.ids import content_id

CALCULATOR_MARK = re.compile(r"<<.*?>>")
FINAL_ANSWER = re.compile(r"^\s*####\s*(.+?)\s*$")


class SeedImportError(ValueError):
    """A source record that cannot become a seed."""


def gsm8k_to_seed(obj: Any, ref: str = "") -> dict[str, Any]:
    """One GSM8K line (``question``, ``answer``) to a seed dict.

    Each solution line is a step, ``<<...>>`` calculator marks are removed, and the number
    after ``####`` is the gold answer.
    """
    if not isinstance(obj, dict):
        raise SeedImportError(f"expected an object with question and answer, got {type(obj).__name__}")
    question, solution = obj.get("question"), obj.get("answer")
    if not isinstance(question, str) or not question.strip():
        raise SeedImportError("question: missing or not a string")
    if not isinstance(solution, str) or not solution.strip():
        raise SeedImportError("answer: missing or not a string")
    steps, gold = [], None
    for line in solution.splitlines():
        match = FINAL_ANSWER.match(line)
        if match:
            gold = match.group(1).replace(",", "").strip()
            continue
        text = CALCULATOR_MARK.sub("", line).strip()
        if text:
            steps.append({"text": text})
    if not gold:
        raise SeedImportError("answer: no '#### N' final answer line")
    if not steps:
        raise SeedImportError("answer: no solution steps before '#### N'")
    return {
        "id": "gsm8k-" + content_id(question, length=12),
        "problem": question.strip(),
        "answer": gold,
        "steps": steps,
        "domain": "math",
        "notes": f"imported from GSM8K {ref}".strip(),
    }


def prm800k_to_seed(obj: Any, ref: str = "") -> dict[str, Any]:
    """One PRM800K line to a seed: the human-rated steps chosen at each position.

    Uses ``question.problem``, ``question.ground_truth_answer`` and, per step of
    ``label.steps``, the completion at ``chosen_completion`` or else the human completion
    (a string, or an object with ``text``). The trajectory ends at the first step with
    neither. Only complete solutions become seeds: a ``label.finish_reason`` other than
    ``solution`` (``found_error``, ``give_up``, ``bad_problem``) is refused.
    """
    if not isinstance(obj, dict) or not isinstance(obj.get("question"), dict):
        raise SeedImportError("expected an object with a 'question' object")
    question = obj["question"]
    problem, gold = question.get("problem"), question.get("ground_truth_answer")
    if not isinstance(problem, str) or not problem.strip():
        raise SeedImportError("question.problem: missing or not a string")
    if not isinstance(gold, str) or not gold.strip():
        raise SeedImportError("question.ground_truth_answer: missing or not a string")
    label = obj.get("label")
    if not isinstance(label, dict):
        raise SeedImportError("label: missing or not an object")
    finish = label.get("finish_reason")
    if finish is not None and finish != "solution":
        raise SeedImportError(f"label.finish_reason: {finish!r}, not a complete solution")
    positions = label.get("steps")
    if not isinstance(positions, list):
        raise SeedImportError("label.steps: missing or not a list")
    steps = []
    for i, position in enumerate(positions):
        text = _chosen_text(position)
        if text is None:
            break  # the labelled trajectory stops here
        if not isinstance(text, str):
            raise SeedImportError(f"label.steps[{i}]: chosen text is not a string")
        if text.strip():
            steps.append({"text": text.strip()})
    if not steps:
        raise SeedImportError("label.steps: no chosen or human completion")
    return {
        "id": "prm800k-" + content_id(problem, [s["text"] for s in steps], length=12),
        "problem": problem.strip(),
        "answer": gold.strip(),
        "steps": steps,
        "domain": "math",
        "notes": f"imported from PRM800K {ref}".strip(),
    }


def _chosen_text(position: Any) -> Any:
    """The text taken at one PRM800K step position, or None when there is none."""
    if not isinstance(position, dict):
        raise SeedImportError(f"label.steps: expected step objects, got {type(position).__name__}")
    chosen, completions = position.get("chosen_completion"), position.get("completions")
    if chosen is not None:
        valid = isinstance(chosen, int) and not isinstance(chosen, bool) and isinstance(completions, list)
        if not valid or not 0 <= chosen < len(completions) or not isinstance(completions[chosen], dict):
            raise SeedImportError(f"label.steps: chosen_completion {chosen!r} does not name a completion")
        return completions[chosen].get("text")
    human = position.get("human_completion")
    return human.get("text") if isinstance(human, dict) else human


IMPORTERS = {"gsm8k": gsm8k_to_seed, "prm800k": prm800k_to_seed}
