"""Step labellers: estimate each step's chance of leading to the gold answer from rollouts (``shepherd``,
``binary``); an LLM judge's verdict on each step (``judge``), MC and judge combined (``consensus``); gold
answers by majority vote where a problem has none (``majority``)."""

from generators.labelling.base import AnswerChecker, LabelSettings, StepLabeller, StepLabels
from generators.labelling.binary import BinaryLabeller
from generators.labelling.shepherd import ShepherdLabeller

__all__ = ["AnswerChecker", "BinaryLabeller", "LabelSettings", "ShepherdLabeller", "StepLabeller", "StepLabels"]
