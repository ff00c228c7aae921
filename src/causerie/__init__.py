"""Causerie: a self-hosted ChatGPT with an OpenAI-compatible API."""

__version__ = "0.1.0"
