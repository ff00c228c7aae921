"""The knowledge parts of one application, built from settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from causerie.knowledge.embeddings import make_embedder
from causerie.knowledge.fetch import Fetcher
from causerie.knowledge.grounding import Grounder
from causerie.knowledge.jobs import IngestionJobs
from causerie.knowledge.service import KnowledgeService
from causerie.knowledge.webpages import WebSearch
from causerie.knowledge.websearch import build_engine
from causerie.settings import KnowledgeConfig, WebSearchConfig
from causerie.store.db import Database


@dataclass
class Knowledge:
    """Collections and search, ingestion jobs, grounding, and the settings they share."""

    config: KnowledgeConfig
    service: KnowledgeService
    jobs: IngestionJobs
    grounder: Grounder
    web: WebSearch | None = None  # the web as a source of evidence, when configured

    def start(self) -> None:
        """After migrations: close out jobs a previous process left unfinished."""
        self.jobs.start()

    def close(self) -> None:
        """Stop the ingestion worker."""
        self.jobs.close()


def build_knowledge(
    config: KnowledgeConfig,
    db: Database,
    spool_dir: Path,
    web_config: WebSearchConfig | None = None,
) -> Knowledge:
    """Wire the knowledge services (the embedding model loads on first use).

    Uploads wait for their job in spool_dir (under the data directory). A web search
    engine configured without its key is a ValueError here, at start-up.
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
    grounder = Grounder(service, config)
    engine = build_engine(web_config) if web_config is not None else None
    web = None
    if engine is not None and web_config is not None:
        web = WebSearch(engine, grounder, web_config, config.allow_private_urls)
    return Knowledge(config, service, jobs, grounder, web)
