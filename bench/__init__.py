"""Benchmarks: scripts that print figures and same-run comparisons (not tests)."""
