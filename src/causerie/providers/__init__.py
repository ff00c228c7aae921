"""Model providers: one interface for the embedded engine and remote servers."""
