"""Packed shuffles: ``Spread`` and ``KeepFirst`` give what a Reshuffle and a GroupByKey by id gave,
with the elements packed many to a blob while the runner holds them."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from pipelines.io.spread import PackFn, Spread, pack, unpack
from pipelines.io.unique import KeepFirst, KeepFirstFn, PackPairsFn, bucket_of
from pipelines.stage.dead_letter import DeadLetter
from pipelines.stage.kernel import DEAD, Filtered, Rejected


@dataclass(frozen=True)
class Item:
    ref: str
    text: str


def _blobs(fn: beam.DoFn, elements: list) -> list[bytes]:
    fn.start_bundle()
    out = [blob for element in elements for blob in fn.process(element)]
    return out + [wv.value for wv in fn.finish_bundle() or []]


def test_the_first_elements_of_a_bundle_go_alone_then_many_to_a_blob() -> None:
    blobs = _blobs(PackFn(singles=3, batch=4), list(range(12)))
    assert [list(unpack(b)) for b in blobs] == [[0], [1], [2], [3, 4, 5, 6], [7, 8, 9, 10], [11]]
    big = "x" * 700_000  # a blob also closes at 1 MB of pickled elements
    assert [len(list(unpack(b))) for b in _blobs(PackFn(singles=0, batch=64), [big] * 3)] == [2, 1]


def test_blobs_keep_what_json_and_dataclasses_hold() -> None:
    values = [{"id": "a\ud800", "x": [1.5, None, True, float("inf")]}, Item("f:1", "t"), b"\xff", (1, (2, 3))]
    assert list(unpack(pack(values))) == values  # lone surrogates and bytes too


def test_spread_gives_every_element_once() -> None:
    with beam.Pipeline() as p:
        out = p | beam.Create(list(range(1000))) | Spread(singles=5, batch=7)
        assert_that(out, equal_to(list(range(1000))))


def test_buckets_are_stable_across_processes() -> None:
    keys = ["abc", "s1", "x\udc00", 17]
    here = [bucket_of(k) for k in keys]
    code = f"from pipelines.io.unique import bucket_of; print([bucket_of(k) for k in {keys!r}])"
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "123", "PATH": ""}).stdout.split("\n")[-2]
    assert str(here) == there and all(0 <= b < 128 for b in here)


def test_keep_first_keeps_the_first_by_order_wherever_it_sits() -> None:
    pairs = [("k", ((0, 3), Item("f:3", "late"))), ("k", ((0, 1), Item("f:1", "first"))), ("j", ((0, 2), Item("f:2", "j"))),
             ("k", ((0, 5), Item("f:5", "later")))]
    blobs = [blob for _bucket, blob in _blobs(PackPairsFn(buckets=1, batch=2), pairs)]
    assert len(blobs) == 2  # the first comes after one of its repeats, and another repeat in the next blob
    fn = KeepFirstFn("seeds", dead_letter_duplicates=True, counts_read=False)
    outcomes = list(fn.run((0, blobs)))
    assert outcomes[:2] == [Item("f:1", "first"), Item("f:2", "j")]
    assert sorted((o.reason, o.ref, o.error) for o in outcomes[2:]) == [
        ("duplicate_id", "f:3", "duplicate id 'k'; first seen at f:1"),
        ("duplicate_id", "f:5", "duplicate id 'k'; first seen at f:1")]
    assert all(isinstance(o, Rejected) for o in outcomes[2:])
    quiet = list(KeepFirstFn("dedupe", dead_letter_duplicates=False, counts_read=True).run((0, iter(blobs))))
    assert quiet[:2] == outcomes[:2] and quiet[2:] == [Filtered("duplicate")] * 2  # values read once, as an iterator


def test_keep_first_in_a_pipeline() -> None:
    pairs = [(f"id{n % 300}", ((n // 1000, n % 1000), Item(f"f:{n}", str(n)))) for n in range(3000)]
    with beam.Pipeline() as p:
        out = p | beam.Create(pairs) | KeepFirst("seeds", dead_letter_duplicates=True, counts_read=False)
        assert_that(out["kept"] | beam.Map(lambda item: item.text), equal_to([str(n) for n in range(300)]), label="Kept")
        assert_that(out[DEAD] | beam.Map(lambda d: isinstance(d, DeadLetter) and d.reason) | beam.combiners.Count.Globally(),
                    equal_to([2700]), label="Dead")
