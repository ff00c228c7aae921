"""The knowledge parts of one application, built from settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from causerie.knowledge.embeddings import make_embedder
from causerie.knowledge.fetch import Fetcher
from causerie.knowledge.grounding import Grounder
from causerie.knowledge.jobs import IngestionJobs
from causerie.knowledge.service import KnowledgeService
from causerie.settings import KnowledgeConfig
from causerie.store.db import Database


@dataclass
class Knowledge:
    """Collections and search, ingestion jobs, grounding, and the settings they share."""

    config: KnowledgeConfig
    service: KnowledgeService
    jobs: IngestionJobs
    grounder: Grounder

    def start(self) -> None:
        """After migrations: close out jobs a previous process left unfinished."""
        self.jobs.start()

    def close(self) -> None:
        """Stop the ingestion worker."""
        self.jobs.close()


def build_knowledge(config: KnowledgeConfig, db: Database, spool_dir: Path) -> Knowledge:
    """Wire the knowledge services (the embedding model loads on first use).

    Uploads wait for their job in spool_dir (under the data directory).
    """
    embedder = make_embedder(config.embedder, config.embed_threads)
    service = KnowledgeService(db, embedder, max_input_tokens=config.max_embedding_input_tokens)
    fetcher = Fetcher(
        max_bytes=config.max_document_bytes,
        timeout=config.fetch_timeout,
        allow_private=config.allow_private_urls,
    )
    jobs = IngestionJobs(
        service,
        max_bytes=config.max_document_bytes,
        fetcher=fetcher,
        spool_dir=spool_dir,
        lease_seconds=config.job_lease_seconds,
        workers=config.ingest_workers,
    )
    return Knowledge(config, service, jobs, Grounder(service, config))
