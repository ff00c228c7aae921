"""Inference benchmark: Causerie's HTTP API against the raw engine, caching, start-up, footprint."""
