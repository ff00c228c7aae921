"""The ASGI application, assembled from settings at start-up."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import Depends, FastAPI

from causerie import __version__
from causerie.http import install_error_handlers, limit_body_size
from causerie.routers import (
    auth,
    chat_store,
    conversations,
    health,
    imports,
    knowledge,
    metrics,
    openai,
    responses,
    websearch,
)
from causerie.settings import Settings
from causerie.ui import mount_ui
from causerie.wiring import build_services

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> FastAPI:
    """A Causerie application; models start loading when it starts serving."""
    services = build_services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(services.db.prepare)
        await anyio.to_thread.run_sync(services.knowledge.start)
        await anyio.to_thread.run_sync(services.imports.start)  # after: its leases recovered
        services.quotas.start()
        services.catalog.start_loading()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(services.imports.close)  # before: it holds leases
            await anyio.to_thread.run_sync(services.knowledge.close)
            await services.catalog.close()  # no more replies, so no more usage to record
            await anyio.to_thread.run_sync(services.quotas.close)  # writes pending usage
            services.db.engine.dispose()

    # One dependency on every route: who is asking (key, session or the local user) and CSRF
    # for cookie sessions. Routes that call a model declare auth.METERED themselves.
    app = FastAPI(
        title="Causerie",
        version=__version__,
        lifespan=lifespan,
        dependencies=[Depends(auth.authenticate)],
    )
    app.state.services = services
    install_error_handlers(app, identify=auth.identify)
    app.add_middleware(
        limit_body_size,
        max_bytes=settings.max_request_bytes,
        larger=[knowledge.upload_body_limit(settings), imports.import_body_limit()],
    )
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(openai.router)
    app.include_router(responses.router)
    app.include_router(chat_store.router)
    app.include_router(auth.router)
    app.include_router(auth.admin_router)
    app.include_router(conversations.router)
    app.include_router(knowledge.router)
    app.include_router(knowledge.conversation_router)
    app.include_router(knowledge.v1_router)
    app.include_router(imports.router)
    app.include_router(websearch.router)
    app.include_router(imports.admin_router)
    mount_ui(app)  # last: the UI at / must not shadow the API routes
    return app
