"""``reverse-o1 export``: a run's rows in the formats trainers read."""
