"""Alembic environment: runs on the connection Causerie hands it."""

from alembic import context

from causerie.store.models import Base
from causerie.store.search_objects import include_object

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    include_object=include_object,
)
with context.begin_transaction():
    context.run_migrations()
