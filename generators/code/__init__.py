"""Code CoT: reverse-generated reasoning for a fixed function, its hindsight filter, the round trip."""

from generators.code.hindsight import hindsight_reason
from generators.code.problem import answer_of, problem_of
from generators.code.reverse_cot import CodeCoTSettings, ReverseCoT, ReverseCoTWriter
from generators.code.roundtrip import RoundTripCode, RoundTripWriter, function_from_reply

__all__ = [
    "CodeCoTSettings",
    "ReverseCoT",
    "ReverseCoTWriter",
    "RoundTripCode",
    "RoundTripWriter",
    "answer_of",
    "function_from_reply",
    "hindsight_reason",
    "problem_of",
]
