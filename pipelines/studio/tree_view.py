"""The studio's tree view: one search tree as JSON, from ``DIR/trees`` or, for older folders, from PRM rows.

``tree`` takes a PRM row's id (the tree of the root its trajectory came from) or a tree id. When the
folder's ``trees`` output holds that root, every node the search created is shown: dead ends and
children never selected included, each with its step, factor, visits, Q, correct evaluations, own
value, terminal reason and answer. A folder written before 0.3 (or with ``expand --no-trees``) has
only the PRM rows' ``nodes``: the tree is then pieced together from the trajectories that passed
through the root (``source`` says which), so it holds only nodes on found trajectories.
"""

from __future__ import annotations

from typing import Any

from pipelines.studio.data_view import DataFolder, root_of

NODE_KEYS = ("id", "parent", "depth", "text", "factor", "prior", "factor_prior", "visits", "q", "value", "correct",
             "expanded", "terminal_reason", "answer", "answer_correct", "rollout", "score", "candidates", "checked",
             "value_model")


def tree(folder: DataFolder, key: str) -> dict[str, Any] | None:
    """The tree of PRM row ``key`` (or of tree id ``key``); None when there is none."""
    row = folder.by_id.get(key)
    if row is None:
        return from_trees(folder, key, None) if key in folder.trees else None
    root = root_of(row)
    if root is None:
        return None
    tree_id = folder.tree_of.get(root)
    found = from_trees(folder, tree_id, row) if tree_id is not None else None
    return found or from_prm(folder, root, row)


def passing(folder: DataFolder, root: str) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """The MCTS rows whose trajectory starts at ``root``, and per tree node the ids of those through it."""
    trajectories, through = [], {}
    for other in folder.rows:
        if other.get("method") != "mcts" or root_of(other) != root:
            continue
        marks = [n for n in other.get("nodes") or [] if n]
        trajectories.append({"id": other.get("id"), "answer_correct": other.get("answer_correct"),
                             "steps": len(other.get("completions") or []), "leaf": marks[-1]["id"] if marks else root})
        for node in marks:
            through.setdefault(node["id"], []).append(other.get("id"))
    return trajectories, through


def from_trees(folder: DataFolder, tree_id: str, row: dict[str, Any] | None) -> dict[str, Any] | None:
    """Every node of one tree, as ``expand`` wrote it; None when its root's row is missing (a damaged shard)."""
    rows = folder.trees.get(tree_id) or []
    top = next((n for n in rows if n.get("parent") is None), None)
    if top is None:
        return None
    trajectories, through = passing(folder, top["id"])
    nodes = [{**{k: n.get(k) for k in NODE_KEYS}, "terminal": n.get("terminal_reason") is not None,
              "verified": n.get("terminal_reason") == "answer" and n.get("answer_correct") is True,
              "trajectories": through.get(n["id"], [])} for n in rows]
    counts = {"nodes": len(nodes), "expanded": sum(n["expanded"] is True for n in nodes),
              "dead_ends": sum(n["terminal_reason"] == "dead_end" for n in nodes),
              "answers": sum(n["terminal_reason"] == "answer" for n in nodes),
              "unvisited": sum(not n["visits"] for n in nodes if n["parent"] is not None)}
    return {"source": "trees", "root": top["id"], "tree_id": tree_id,
            "problem": top.get("problem") or (row or {}).get("prompt"), "prefix": top.get("prefix") or [],
            "gold_answer": top.get("gold_answer"), "seed_id": top.get("seed_id"), "cut": top.get("cut"),
            "nodes": nodes, "trajectories": trajectories, "counts": counts}


def from_prm(folder: DataFolder, root: str, row: dict[str, Any]) -> dict[str, Any]:
    """The tree pieced together from every MCTS trajectory that passed through ``root`` (folders before 0.3).

    A node is ``terminal`` when a trajectory ends on it (its last step is a tree step) and
    ``verified`` when such a trajectory's answer was accepted; the trajectories are listed with it.
    What the PRM rows do not hold (factor, own value, correct evaluations, reason) is null.
    """
    nodes: dict[str, dict[str, Any]] = {}
    trajectories = []
    blank = dict.fromkeys(NODE_KEYS)
    for other in folder.rows:
        if other.get("method") != "mcts" or root_of(other) != root:
            continue
        steps = other.get("completions") or []
        marks = other.get("nodes") or []
        tree_steps = [i for i, n in enumerate(marks) if n]
        last = tree_steps[-1] if tree_steps else -1
        trajectories.append({"id": other.get("id"), "answer_correct": other.get("answer_correct"),
                             "steps": len(steps), "leaf": marks[last]["id"] if last >= 0 else root})
        for i in tree_steps:
            node = marks[i]
            entry = nodes.setdefault(node["id"], {
                **blank, "id": node["id"], "parent": node.get("parent"), "q": node.get("q"), "visits": node.get("visits"),
                "prior": node.get("prior"), "text": steps[i] if i < len(steps) else "", "terminal": False,
                "verified": False, "trajectories": []})
            entry["trajectories"].append(other.get("id"))
            if i == last and i == len(steps) - 1 and node.get("parent") is not None:
                entry["terminal"] = True
                entry["verified"] = entry["verified"] or bool(other.get("answer_correct"))
    if root not in nodes:  # a cut with no human step: the root is the bare problem
        nodes[root] = {**blank, "id": root, "text": "", "terminal": False, "verified": False, "trajectories": []}
    return {"source": "prm", "root": root, "tree_id": None, "problem": row.get("prompt"), "prefix": [],
            "gold_answer": None, "seed_id": None, "cut": None, "nodes": list(nodes.values()),
            "trajectories": trajectories, "counts": {"nodes": len(nodes)}}
