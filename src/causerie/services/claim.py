"""Handing the single-user mode's data to an account, so that nothing made becomes unreachable.

Before the first account exists every conversation and collection belongs to the local
user; once accounts exist nobody signs in as that user. The first administrator therefore
takes it all over (`causerie users create --admin`), and `--claim-local` repeats it later.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from causerie.knowledge.tables import Collection
from causerie.store.models import LOCAL_USER_ID, Base

# The tables whose rows count in the CLI's summary (the others follow them).
SUMMARY = {"conversations": "conversations", "knowledge_collections": "collections"}


def claim_local(s: Session, user_id: str) -> dict[str, int]:
    """Give every row the local user owns to user_id; how many of each kind moved (none: {})."""
    # Collection names are unique per owner: a local one that clashes keeps a marked name.
    taken = set(s.scalars(select(Collection.name).where(Collection.owner_id == user_id)))
    for col in s.scalars(select(Collection).where(Collection.owner_id == LOCAL_USER_ID)):
        if col.name in taken:
            col.name = f"{col.name} (local)"
    s.flush()
    moved: dict[str, int] = {}
    for table in Base.metadata.sorted_tables:
        if "owner_id" not in table.c:
            continue
        result = s.execute(
            update(table).where(table.c.owner_id == LOCAL_USER_ID).values(owner_id=user_id)
        )
        if table.name in SUMMARY and result.rowcount:
            moved[SUMMARY[table.name]] = result.rowcount
    return moved
