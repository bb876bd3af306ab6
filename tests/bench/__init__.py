"""Smoke runs of the benchmarks, so that they cannot rot."""
