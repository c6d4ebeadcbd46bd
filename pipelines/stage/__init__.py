"""The stage kernel: every DoFn's base, its outcomes, counting, progress and dead letters."""
