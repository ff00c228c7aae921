"""Knowledge: collections of documents, hybrid retrieval and checked citations."""
