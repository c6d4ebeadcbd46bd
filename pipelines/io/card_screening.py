"""The card's "Decontamination and near-duplicates" section: what each run checked its inputs against, and
what it filtered (from the manifest: the runs' settings and the ``screen`` / ``near_duplicates`` stages)."""

from __future__ import annotations

from typing import Any

DOMAIN = {"code-cot": "code", "lean-cot": "lean"}  # every other command reads math problems


def screening_lines(manifest: dict[str, Any]) -> list[str]:
    from common.decontamination import ReferenceError, benchmarks_for

    stages = manifest.get("stages") or {}
    rows = []
    for command, run in sorted((manifest.get("runs") or {}).items()):
        screen = stages.get(f"{command}/screen")
        if not isinstance(screen, dict):
            continue
        config = run.get("config") or {}
        setting = str(config.get("decontaminate", "auto"))
        try:
            names = list(benchmarks_for(setting, DOMAIN.get(command.split("-label")[0], "math")))
        except ReferenceError:
            names = [setting]
        names += [f"{f} (your file)" for f in config.get("decontaminate_file") or []]
        near = stages.get(f"{command}/near_duplicates") or {}
        filtered = {**(screen.get("filtered") or {}), **(near.get("filtered") or {})}
        counts = ", ".join(f"`{r}` {n}" for r, n in sorted(filtered.items())) or "none"
        rows.append(f"| `{command}` | {', '.join(names) or 'none (`--decontaminate none`)'} | {screen.get('read', 0)} | "
                    f"{counts} |")
    if not rows:
        return []
    return ["", "## Decontamination and near-duplicates", "",
            "Every input was checked against the test sets below (hashed word 13- and 8-grams after normalising case, "
            "spacing, numbers and LaTeX, plus a MinHash near-match; `common/decontamination/README.md` says where each "
            "comes from) before any work; a later near-copy of a problem (MinHash over word 3-grams, numbers masked) "
            "was filtered `near_duplicate` (`reports/near_duplicates/` names the problem it copies).", "",
            "| command | benchmarks checked | inputs | filtered |", "|---|---|---|---|", *rows]
