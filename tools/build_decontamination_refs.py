"""Build the bundled benchmark references for decontamination: common/decontamination/BENCH.json.gz.

Run at development time on raw benchmark files fetched from their public repositories (nothing
downloads here, nor at run time); each reference keeps hashes only, no benchmark text:

    python tools/build_decontamination_refs.py --out common/decontamination \\
        --gsm8k RAW/gsm8k/test.jsonl \\
        --math500 RAW/math500/test.jsonl \\
        --humaneval RAW/humaneval/HumanEval.jsonl.gz \\
        --mbpp RAW/mbpp/mbpp.jsonl \\
        --minif2f-informal RAW/minif2f/informal_test \\
        --minif2f-lean4 RAW/minif2f/deepseek/minif2f.jsonl \\
        --minif2f-lean3 RAW/minif2f/lean3/test.lean

Any subset of the benchmarks may be given; those left out are not touched. The output is
byte-for-byte deterministic for the same inputs (gzip mtime 0, fixed key order).

File format (gzip-compressed JSON object):
  format_version, name, domain ("math" | "code" | "lean"), split, license, items (count),
  source {repo, path, commit, sha256[, origin, note]}: the primary file; sources: every file used,
  n_values [8, 13],
  ngrams {"8": [...], "13": [...]}: sorted, distinct ``gram_hash`` values (16 hex) of
      ``ngrams(words(field), n)`` for each hashed natural-language field of each item
      (common.text_normal; an item field shorter than n words is hashed whole, as one gram),
  whole [...]: ``gram_hash`` of each hashed field's whole normalised text (``" ".join(words(field))``),
  code_ngrams {"8": [...], "13": [...]} (code and lean only): the same over ``code_tokens(field)``
      for the code (canonical solutions) or the formal statements,
  minhash_items [item ids], minhash_params {function, num_perm, shingle, bits, encoding},
  minhash: per item (same order) the signature of ``words(primary text)``; code_minhash: of
      ``code_tokens(primary code)`` (code and lean). Lists of ints, or base64 of little-endian uint32
      with ``--minhash-encoding base64``; ``--minhash none`` leaves both out,
  fields {...}: which item fields each key was computed from.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import io
import json
import re
import struct
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from common.text_normal import code_tokens, gram_hash, ngrams, words  # noqa: E402  (the root goes on sys.path first)

N_VALUES = (8, 13)
FORMAT_VERSION = 1

# Where each raw file comes from (fetched at development time; see common/decontamination/README.md).
# sha256 is of the file as fetched: a rebuild from other bytes says so in the output and on stderr.
SOURCES: dict[str, dict] = {
    "gsm8k": {
        "repo": "openai/grade-school-math",
        "path": "grade_school_math/data/test.jsonl",
        "commit": "3101c7d5072418e28b9008a6636bde82a006892c",
        "sha256": "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14",
        "license": "MIT (Copyright (c) 2021 OpenAI)",
    },
    "math500": {
        "repo": "openai/prm800k",
        "path": "prm800k/math_splits/test.jsonl",
        "commit": "7ecc794703b2877f63226f2477a49b34f9b25163",
        "sha256": "35dc41080a3680858b27fa7e0533d2d547825316fc5dafe5d316f4ccc5a06132",
        "license": "MIT (PRM800K, Copyright (c) 2023 OpenAI; the MATH dataset, Hendrycks et al., is MIT too)",
        "note": (
            "the file is stored with Git LFS in openai/prm800k (pointer oid sha256:35dc4108...06132, size 446564); "
            "its bytes were taken from a verbatim copy, MobileLLM/BudgetThinker@f0466b9d37595f46603387baa5930e312fefb7f5 "
            "evaluation/data/math500/test_ori.jsonl, whose sha256 equals the LFS oid"
        ),
    },
    "humaneval": {
        "repo": "openai/human-eval",
        "path": "data/HumanEval.jsonl.gz",
        "commit": "6d43fb980f9fee3c892a914eda09951f772ad10d",
        "sha256": "b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef",
        "license": "MIT (Copyright (c) OpenAI)",
    },
    "mbpp": {
        "repo": "OckBench/OckBench",
        "path": "data/mbpp.jsonl",
        "commit": "b72752a0ba5989d3c212675ec60d3eedcd838628",
        "sha256": "ccf64ceae9c5403bf50a044cb6d505bfd2a2963ee58338ba268fd65beab92a9f",
        "origin": {"repo": "google-research/google-research", "path": "mbpp/mbpp.jsonl"},
        "license": "CC-BY-4.0 (MBPP, Austin et al. 2021, Google)",
        "note": (
            "a copy of google-research's mbpp/mbpp.jsonl (974 tasks): the google-research snapshot (about 1.1 GB) is "
            "over the fetch limit. The same content is in FormulaMonks/llm-benchmarker-suite@"
            "5d3c8009ab8f5adab4899c34dd203cbf7afcb372 data/mbpp/mbpp.jsonl (2023) and muitiiifruckt/ASE mbpp.jsonl; "
            "the google-research version indexed at 2251e8c67a7fe7d6348714967ee101080b28e956 differs in a few tasks "
            "(206 characters, e.g. task 341 'tuples'/tuple(s) there, 'ordered tuples'/tuple(sorted(s)) here)"
        ),
    },
    "minif2f-informal": {
        "repo": "facebookresearch/miniF2F",
        "path": "informal/test/*.json",
        "commit": "e4f113090ad82d64f8ce064d2f55b613a9b6bded",
        # a folder of 244 files: the sha256 of the lines "name<TAB>sha256" of its files, sorted by name
        "sha256": "6e695533911eca72cbd0874cd33c52bc85cc311a06cec25abf5de7e3103f04d6",
        "license": "MIT (Copyright (c) Meta Platforms, Inc. and affiliates; repository LICENSE)",
    },
    "minif2f-lean4": {
        "repo": "deepseek-ai/DeepSeek-Prover-V1.5",
        "path": "datasets/minif2f.jsonl",
        "commit": "2c4ba9119eef74d0d611f494261b2c5bae98c69a",
        "sha256": "d6654c88476ff14db19d57dea25bd955a240525fb52171e460f89d98f83d7dd5",
        "license": "MIT (Copyright (c) 2023 DeepSeek; LICENSE-CODE)",
        "note": "only rows with split == 'test' are used",
    },
    "minif2f-lean3": {
        "repo": "facebookresearch/miniF2F",
        "path": "lean/src/test.lean",
        "commit": "e4f113090ad82d64f8ce064d2f55b613a9b6bded",
        "sha256": "215bc7b8ee271cc358d37c9f0909f0127d078f63ebcbd997ebc6023b73a81895",
        "license": "Apache-2.0 (lean/LICENSE; Copyright (c) 2021 OpenAI)",
        "note": "theorem statements only (up to ':='), proofs not hashed",
    },
}


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def folder_sha256(paths: Iterable[Path]) -> str:
    listing = "".join(f"{p.name}\t{file_sha256(p)}\n" for p in sorted(paths))
    return hashlib.sha256(listing.encode()).hexdigest()


def source_record(key: str, path: Path, digest: str) -> dict:
    spec = SOURCES[key]
    record = {"repo": spec["repo"], "path": spec["path"], "commit": spec["commit"], "sha256": digest}
    if spec.get("origin"):
        record["origin"] = spec["origin"]
    if spec.get("note"):
        record["note"] = spec["note"]
    if spec["sha256"] and spec["sha256"] != digest:
        record["note"] = (record.get("note", "") + "; " if record.get("note") else "") + (
            f"rebuilt from other bytes than the recorded fetch ({spec['sha256']})"
        )
        print(f"warning: {path}: sha256 {digest} differs from the recorded {spec['sha256']}", file=sys.stderr)
    return record


def read_jsonl(path: Path) -> list[dict]:
    opener: Callable[..., io.TextIOBase] = gzip.open if path.suffix == ".gz" else open  # type: ignore[assignment]
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


class Signer:
    """How item MinHash signatures are made and stored.

    ``common.minhash`` (default): the project's numpy MinHash (``signature(shingles(words, 3))``, 128
    values), the one ``common.decontamination`` queries with. ``base64`` (default) stores each kind as
    one base64 string of little-endian uint32, items after items; ``lists`` as lists of ints.
    """

    def __init__(self, impl: str = "common.minhash", encoding: str = "base64") -> None:
        self.impl, self.encoding = impl, encoding
        self.params: dict = {}
        if impl == "common.minhash":
            from common import minhash  # numpy; only for this choice

            self._minhash = minhash
            self.params = {
                "function": "common.minhash.signature(common.minhash.shingles(tokens, 3))",
                "num_perm": minhash.PERMUTATIONS,
                "shingle": 3,
            }
        elif impl != "none":
            raise ValueError(f"unknown MinHash implementation {impl!r}")
        if self.params:
            self.params.update(bits=32, encoding=encoding)

    def __call__(self, tokens: list[str]) -> list[int]:
        return [int(v) for v in self._minhash.signature(self._minhash.shingles(tokens, 3))]

    def encode(self, signatures: list[list[int]]) -> list[list[int]] | str:
        if self.encoding == "lists":
            return signatures
        raw = b"".join(struct.pack(f"<{len(sig)}I", *sig) for sig in signatures)
        return base64.b64encode(raw).decode("ascii")


class Reference:
    """Accumulates one benchmark's hashes item by item."""

    def __init__(self, signer: Signer) -> None:
        self.signer = signer
        self.grams: dict[int, set[str]] = {n: set() for n in N_VALUES}
        self.code_grams: dict[int, set[str]] = {n: set() for n in N_VALUES}
        self.whole: set[str] = set()
        self.ids: list[str] = []
        self.minhash: list[list[int]] = []
        self.code_minhash: list[list[int]] = []

    def text(self, *texts: str) -> None:
        for text in texts:
            tokens = words(text)
            if tokens:
                self.whole.add(gram_hash(" ".join(tokens)))
            for n in N_VALUES:
                self.grams[n].update(gram_hash(g) for g in ngrams(tokens, n))

    def code(self, *sources: str) -> None:
        for source in sources:
            tokens = code_tokens(source)
            for n in N_VALUES:
                self.code_grams[n].update(gram_hash(g) for g in ngrams(tokens, n))

    def item(self, item_id: str, primary_text: str, primary_code: str | None = None) -> None:
        self.ids.append(item_id)
        if self.signer.impl == "none":
            return
        self.minhash.append(self.signer(words(primary_text)))
        if primary_code is not None:
            self.code_minhash.append(self.signer(code_tokens(primary_code)))

    def payload(self, *, name: str, domain: str, split: str, license: str, sources: list[dict], fields: dict) -> dict:
        has_code = any(self.code_grams[n] for n in N_VALUES)
        out: dict = {
            "format_version": FORMAT_VERSION,
            "name": name,
            "domain": domain,
            "split": split,
            "license": license,
            "source": sources[0],
            "sources": sources,
            "items": len(self.ids),
            "n_values": list(N_VALUES),
            "normaliser": "common.text_normal: words() for ngrams and whole, code_tokens() for code_ngrams; gram_hash()",
            "fields": fields,
            "ngrams": {str(n): sorted(self.grams[n]) for n in N_VALUES},
            "whole": sorted(self.whole),
        }
        if has_code:
            out["code_ngrams"] = {str(n): sorted(self.code_grams[n]) for n in N_VALUES}
        out["minhash_items"] = self.ids
        if self.signer.impl != "none":
            out["minhash_params"] = self.signer.params
            out["minhash"] = self.signer.encode(self.minhash)
            if self.code_minhash:
                out["code_minhash"] = self.signer.encode(self.code_minhash)
        return out


# --- one builder per benchmark --------------------------------------------------------------------


def build_gsm8k(path: Path, with_solutions: bool = False, signer: Signer | None = None) -> dict:
    rows = read_jsonl(path)
    ref = Reference(signer or Signer())
    for i, row in enumerate(rows):
        ref.text(row["question"], *([row["answer"]] if with_solutions else []))
        ref.item(f"test-{i}", row["question"])
    return ref.payload(
        name="gsm8k",
        domain="math",
        split="test",
        license=SOURCES["gsm8k"]["license"],
        sources=[source_record("gsm8k", path, file_sha256(path))],
        fields={
            "ngrams": ["question", *(["answer"] if with_solutions else [])],
            "minhash": "question",
            "minhash_items": "test-<line index from 0>",
        },
    )


def build_math500(path: Path, with_solutions: bool = False, signer: Signer | None = None) -> dict:
    rows = read_jsonl(path)
    ref = Reference(signer or Signer())
    for row in rows:
        ref.text(row["problem"], *([row["solution"]] if with_solutions else []))
        ref.item(row["unique_id"], row["problem"])
    return ref.payload(
        name="math500",
        domain="math",
        split="test (MATH-500: the 500 MATH test problems of PRM800K's math_splits/test.jsonl)",
        license=SOURCES["math500"]["license"],
        sources=[source_record("math500", path, file_sha256(path))],
        fields={
            "ngrams": ["problem", *(["solution"] if with_solutions else [])],
            "minhash": "problem",
            "minhash_items": "unique_id",
        },
    )


def build_humaneval(path: Path, with_solutions: bool = False, signer: Signer | None = None) -> dict:
    rows = read_jsonl(path)
    ref = Reference(signer or Signer())
    for row in rows:
        ref.text(row["prompt"])
        ref.code(row["prompt"] + row["canonical_solution"], *([row["test"]] if with_solutions else []))
        ref.item(row["task_id"], row["prompt"], row["prompt"] + row["canonical_solution"])
    return ref.payload(
        name="humaneval",
        domain="code",
        split="test (all 164 problems)",
        license=SOURCES["humaneval"]["license"],
        sources=[source_record("humaneval", path, file_sha256(path))],
        fields={
            "ngrams": ["prompt (signature and docstring, as words)"],
            "code_ngrams": ["prompt + canonical_solution (the whole function)", *(["test"] if with_solutions else [])],
            "minhash": "prompt (words)",
            "code_minhash": "prompt + canonical_solution (code_tokens)",
            "minhash_items": "task_id",
        },
    )


MBPP_TEST_IDS = range(11, 511)  # the paper's evaluation split: task_ids 11-510


def build_mbpp(path: Path, with_solutions: bool = False, signer: Signer | None = None) -> dict:
    rows = [row for row in read_jsonl(path) if row["task_id"] in MBPP_TEST_IDS]
    ref = Reference(signer or Signer())
    for row in rows:
        tests = "\n".join(row["test_list"])
        ref.text(row["text"], tests)
        extra_tests = "\n".join([row.get("test_setup_code") or "", tests, *row.get("challenge_test_list", [])])
        ref.code(row["code"], *([extra_tests] if with_solutions else []))
        ref.item(str(row["task_id"]), row["text"] + "\n" + tests, row["code"])
    return ref.payload(
        name="mbpp",
        domain="code",
        split="test (task_ids 11-510)",
        license=SOURCES["mbpp"]["license"],
        sources=[source_record("mbpp", path, file_sha256(path))],
        fields={
            "ngrams": ["text", "test_list (as words)"],
            "code_ngrams": ["code", *(["test_setup_code + test_list + challenge_test_list"] if with_solutions else [])],
            "minhash": "text + test_list (words)",
            "code_minhash": "code (code_tokens)",
            "minhash_items": "task_id",
        },
    )


_LEAN3_THEOREM = re.compile(r"^theorem\s+(\S+)(.*?):=", re.MULTILINE | re.DOTALL)
_LEAN_DOC = re.compile(r"^\s*/--\s*|\s*-/\s*$", re.DOTALL)


def build_minif2f(
    informal_dir: Path | None,
    lean4: Path | None,
    lean3: Path | None,
    with_solutions: bool = False,
    signer: Signer | None = None,
) -> dict:
    items: dict[str, dict[str, str]] = {}
    sources: list[dict] = []
    if informal_dir is not None:
        files = sorted(informal_dir.glob("*.json"))
        for file in files:
            row = json.loads(file.read_text(encoding="utf-8"))
            entry = items.setdefault(row["problem_name"], {})
            entry["informal_statement"] = row["informal_statement"]
            entry["informal_proof"] = row["informal_proof"]
        sources.append(source_record("minif2f-informal", informal_dir, folder_sha256(files)))
    if lean3 is not None:
        for match in _LEAN3_THEOREM.finditer(lean3.read_text(encoding="utf-8")):
            items.setdefault(match.group(1), {})["lean3"] = f"theorem {match.group(1)}{match.group(2)}:="
        sources.append(source_record("minif2f-lean3", lean3, file_sha256(lean3)))
    if lean4 is not None:
        rows = [row for row in read_jsonl(lean4) if row.get("split") == "test"]
        for row in rows:
            entry = items.setdefault(row["name"], {})
            entry["statement"] = _LEAN_DOC.sub("", row["informal_prefix"]).strip()
            entry["lean4"] = row["formal_statement"]
        sources.append(source_record("minif2f-lean4", lean4, file_sha256(lean4)))
    if not sources:
        raise SystemExit("miniF2F: give at least one of --minif2f-informal, --minif2f-lean4, --minif2f-lean3")
    ref = Reference(signer or Signer())
    for name in sorted(items):
        entry = items[name]
        keys = ("statement", "informal_statement", *(("informal_proof",) if with_solutions else ()))
        texts = [entry[k] for k in keys if entry.get(k)]
        ref.text(*texts)
        formal = [entry[k] for k in ("lean4", "lean3") if entry.get(k)]
        ref.code(*formal)
        primary = entry.get("informal_statement") or entry.get("statement") or ""
        ref.item(name, primary, formal[0] if formal else "")
    by_path = {spec["path"]: spec["license"] for key, spec in SOURCES.items() if key.startswith("minif2f")}
    licenses = [f"{record['repo']} {record['path']}: {by_path[record['path']]}" for record in sources]
    return ref.payload(
        name="minif2f",
        domain="lean",
        split="test (244 problems)",
        license="; ".join(licenses),
        sources=sources,
        fields={
            "ngrams": [
                "informal statement (DeepSeek informal_prefix and facebookresearch informal_statement)",
                *(["informal_proof"] if with_solutions else []),
            ],
            "code_ngrams": ["Lean 4 formal_statement (DeepSeek-Prover-V1.5)", "Lean 3 theorem statement (facebookresearch)"],
            "minhash": "informal statement (words)",
            "code_minhash": "Lean 4 formal statement (code_tokens), else the Lean 3 one",
            "minhash_items": "problem name",
        },
    )


# --- writing ---------------------------------------------------------------------------------------------


def write_reference(payload: dict, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{payload['name']}.json.gz"
    raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as handle:
        handle.write(raw)
    target.write_bytes(buffer.getvalue())
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "common" / "decontamination", help="output folder")
    parser.add_argument("--gsm8k", type=Path, help="grade_school_math/data/test.jsonl")
    parser.add_argument("--math500", type=Path, help="prm800k/math_splits/test.jsonl (MATH-500)")
    parser.add_argument("--humaneval", type=Path, help="data/HumanEval.jsonl.gz")
    parser.add_argument("--mbpp", type=Path, help="mbpp/mbpp.jsonl (all 974 tasks; 11-510 are kept)")
    parser.add_argument("--minif2f-informal", type=Path, help="facebookresearch/miniF2F informal/test/ folder")
    parser.add_argument("--minif2f-lean4", type=Path, help="DeepSeek-Prover-V1.5 datasets/minif2f.jsonl")
    parser.add_argument("--minif2f-lean3", type=Path, help="miniF2F lean/src/test.lean")
    parser.add_argument(
        "--minhash",
        choices=("common.minhash", "none"),
        default="common.minhash",
        help="item MinHash signatures: the project's common.minhash (default; what common.decontamination queries "
        "with), or none",
    )
    parser.add_argument("--minhash-encoding", choices=("lists", "base64"), default="base64",
                        help="lists of ints or base64 uint32 (default)")
    parser.add_argument(
        "--solutions",
        choices=("math", "all", "none"),
        default="math",
        help="which solutions are hashed with the problems: math (default: GSM8K answers and MATH solutions, the human "
        "steps a math seed carries), all (also HumanEval/MBPP tests and miniF2F informal proofs; about 0.6 MB more), none",
    )
    args = parser.parse_args(argv)

    signer = Signer(args.minhash, args.minhash_encoding)
    math_solutions, all_solutions = args.solutions in ("math", "all"), args.solutions == "all"
    payloads = []
    if args.gsm8k:
        payloads.append(build_gsm8k(args.gsm8k, math_solutions, signer))
    if args.math500:
        payloads.append(build_math500(args.math500, math_solutions, signer))
    if args.humaneval:
        payloads.append(build_humaneval(args.humaneval, all_solutions, signer))
    if args.mbpp:
        payloads.append(build_mbpp(args.mbpp, all_solutions, signer))
    if args.minif2f_informal or args.minif2f_lean4 or args.minif2f_lean3:
        payloads.append(build_minif2f(args.minif2f_informal, args.minif2f_lean4, args.minif2f_lean3, all_solutions, signer))
    if not payloads:
        parser.error("give at least one benchmark file")
    for payload in payloads:
        target = write_reference(payload, args.out)
        counts = ", ".join(f"{n}-grams {len(payload['ngrams'][str(n)])}" for n in N_VALUES)
        if "code_ngrams" in payload:
            counts += ", code " + ", ".join(f"{n}-grams {len(payload['code_ngrams'][str(n)])}" for n in N_VALUES)
        print(f"{target}: {payload['items']} items; {counts}; {target.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
