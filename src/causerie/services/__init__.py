"""Business logic. Nothing here imports the web framework."""
