"""The services of one application, built from settings."""

from __future__ import annotations

from dataclasses import dataclass

from causerie.knowledge.system import Knowledge, build_knowledge
from causerie.metrics import Metrics
from causerie.providers.registry import build_providers
from causerie.providers.routing import Routing
from causerie.services.auth import AuthService
from causerie.services.completions import CompletionService
from causerie.services.conversations import ConversationService
from causerie.services.imports import ImportService
from causerie.services.imports.jobs import ImportJobs
from causerie.services.logins import LoginThrottle
from causerie.services.models import ModelCatalog
from causerie.services.quotas import QuotaService
from causerie.services.responses import ResponseService
from causerie.services.stored_completions import StoredCompletions
from causerie.settings import Settings
from causerie.store.db import Database, make_engine


@dataclass
class Services:
    """Everything a request handler may use, built once per application."""

    settings: Settings
    db: Database
    catalog: ModelCatalog
    completions: CompletionService
    conversations: ConversationService
    metrics: Metrics
    knowledge: Knowledge
    auth: AuthService
    quotas: QuotaService
    logins: LoginThrottle
    imports: ImportJobs
    responses: ResponseService
    stored_completions: StoredCompletions


def build_services(settings: Settings) -> Services:
    """Wire the services from settings (no I/O yet)."""
    db = Database(make_engine(settings.db_url))
    providers = build_providers(settings)
    metrics = Metrics()
    knowledge = build_knowledge(settings.knowledge, db, settings.spool_dir, settings.web_search)
    catalog = ModelCatalog(
        providers,
        settings.default_model,
        Routing(settings, providers, metrics),
        embedding_models=[knowledge.service.embedder.name],
    )
    quotas = QuotaService(db)
    completions = CompletionService(
        catalog,
        settings.max_messages,
        knowledge.grounder,
        on_usage=quotas.record,
        web=knowledge.web,
        admit_web=quotas.admit_web_search,
    )
    return Services(
        settings,
        db,
        catalog,
        completions,
        ConversationService(db, completions),
        metrics=metrics,
        knowledge=knowledge,
        auth=AuthService(db, settings.session_hours),
        quotas=quotas,
        logins=LoginThrottle(
            db,
            settings.login_failures_per_account,
            settings.login_failures_per_address,
            settings.login_window_seconds,
        ),
        imports=ImportJobs(
            ImportService(db, knowledge.service), knowledge.jobs, settings.data_dir / "imports"
        ),
        responses=ResponseService(db, completions),
        stored_completions=StoredCompletions(db),
    )
