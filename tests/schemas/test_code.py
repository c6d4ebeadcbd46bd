"""TestRef's label: pytest's node id for a suite test, ``doctest SYMBOL`` for a docstring's examples."""

from __future__ import annotations

from schemas.code import TestRef, node_name


def test_labels_are_pytest_node_ids() -> None:
    assert TestRef("doctest", "pkg/m.py", "Acc.total").label == "doctest Acc.total"
    assert TestRef("function", "tests/test_m.py", "test_f").label == "tests/test_m.py::test_f"
    assert TestRef("function", "tests/test_m.py", "ChunkedTests.test_even").label == "tests/test_m.py::ChunkedTests::test_even"
    case = TestRef("function", "tests/test_m.py", "TestTake.test_take[1.5-a.b]", "{'n': 1.5, 's': 'a.b'}")
    assert case.label == "tests/test_m.py::TestTake::test_take[1.5-a.b]"  # the case id keeps its dots
    assert node_name("test_f[x[0]]") == "test_f[x[0]]"


def test_refs_without_arguments_are_unchanged() -> None:
    """A test that is no parametrized case compares (and hashes) as before the field was added."""
    assert TestRef("function", "t.py", "test_a") == TestRef("function", "t.py", "test_a", "")
    assert len({TestRef("function", "t.py", "test_a"), TestRef("function", "t.py", "test_a", "")}) == 1
