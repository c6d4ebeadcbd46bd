"""Rounds of self-evolution, rStar-Math's loop: expand → export PRM rows → train a PRM → expand again guided by it.

    .venv/bin/python tools/evolve.py --seeds SEEDS --out DIR [--rounds 2] [--value-mix 0.5] [--prm-steps 20]
                                     [--base MODEL] [-- EXPAND OPTIONS...]

Round r (1, 2, ...) runs the five commands of docs/training.md §8, each printed before it runs:

1. ``reverse-o1 expand --seeds SEEDS --out DIR/roundR EXPAND-OPTIONS`` (from round 2: ``--value-model
   DIR/prmR-1 --value-mix LAMBDA``, the last round's PRM giving the search's values);
2. ``reverse-o1 export prm DIR/roundR --method all --unmeasured cut`` (TRL's stepwise rows, measured labels only);
3. ``PYTHONPATH=.venv/trl-1.13.0 python tools/train_prm.py DIR/roundR DIR/prmR --max-steps N`` (TRL 1.13's
   PRMTrainer; from round 2 it starts from the last round's PRM).

``make evolve`` runs it on the bundled GSM8K seeds. Prints a JSON summary: per round, the rows, the value
model and the training losses. Exit 2 on a bad argument, 1 when a step fails (its command says why).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TRL_PRM = Path(sys.prefix) / "trl-1.13.0"  # where `make` installs TRL 1.13.0 (the last with PRMTrainer)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="evolve.py", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", required=True, help="seed JSONL (the seeds template)")
    parser.add_argument("--out", required=True, help="a folder: roundR/ (expand's output) and prmR/ (trained PRMs)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--value-mix", type=float, default=0.5, help="lambda of the guided rounds (default 0.5)")
    parser.add_argument("--prm-steps", type=int, default=20, help="PRMTrainer steps per round (default 20)")
    parser.add_argument("--base", help="the first PRM's base model (default: the embedded SmolLM2)")
    parser.add_argument("expand", nargs=argparse.REMAINDER, help="after --: options for every expand")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.prm_steps < 1 or not 0.0 <= args.value_mix <= 1.0:
        parser.error("--rounds and --prm-steps must be >= 1 and --value-mix in [0, 1]")
    if not os.path.isfile(args.seeds):
        parser.error(f"--seeds {args.seeds}: no such file")
    args.expand = [a for a in args.expand if a != "--"] if args.expand else []
    return args


def run(command: list[str], env: dict[str, str] | None = None) -> str:
    """Run one step as a user would (printed first); its stdout; exit 1 with its output when it fails."""
    print("+ " + " ".join(shlex.quote(c) for c in command), file=sys.stderr, flush=True)
    done = subprocess.run(command, env={**os.environ, **(env or {})}, capture_output=True, text=True, check=False)
    sys.stderr.write(done.stderr[-4000:])
    if done.returncode != 0:
        print(f"evolve: step failed (exit {done.returncode}): {command[:3]}\n{done.stdout[-2000:]}", file=sys.stderr)
        raise SystemExit(1)
    return done.stdout


def rows(folder: str, kind: str) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in glob.glob(os.path.join(folder, kind, "*.parquet")))


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    cli = [sys.executable, "-m", "pipelines"]
    prm: str | None = None
    summary = []
    for r in range(1, args.rounds + 1):
        folder, trained = os.path.join(args.out, f"round{r}"), os.path.join(args.out, f"prm{r}")
        guided = ["--value-model", prm, "--value-mix", str(args.value_mix)] if prm else []
        run([*cli, "expand", "--seeds", args.seeds, "--out", folder, *args.expand, *guided])
        run([*cli, "export", "prm", folder, "--method", "all", "--unmeasured", "cut"])
        base = ["--base", prm] if prm else (["--base", args.base] if args.base else [])
        out = run([sys.executable, str(HERE / "train_prm.py"), folder, trained, "--max-steps", str(args.prm_steps), *base],
                  env={"PYTHONPATH": os.pathsep.join(filter(None, [str(TRL_PRM), os.environ.get("PYTHONPATH")]))})
        report = json.loads(out.strip().splitlines()[-1])
        summary.append({"round": r, "out": folder, "value_model": prm, "prm_rows": rows(folder, "prm"),
                        "prm_trl_rows": rows(folder, "prm_trl"), "trained": trained, "losses": report["losses"]})
        prm = trained
    print(json.dumps({"rounds": summary, "last_prm": prm}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
