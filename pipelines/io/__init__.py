"""Shared I/O of every pipeline: reading inputs, Parquet shards, dead letters, manifest, resume."""
