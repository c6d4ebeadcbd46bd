"""Tree search over reasoning steps: MCTS from human prefixes, and the PRM labels of its paths."""

from generators.search.labels import TrajectoryLabels, trajectory_labels
from generators.search.mcts import Found, MCTSExpander, MCTSSettings, SearchResult, SearchRoot, SearchStats
from generators.search.tree import Node, puct, select

__all__ = [
    "Found", "MCTSExpander", "MCTSSettings", "Node", "SearchResult", "SearchRoot", "SearchStats", "TrajectoryLabels",
    "puct", "select", "trajectory_labels",
]
