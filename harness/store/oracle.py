"""Oracle cache (conformance): float64 oracle results by case digest and oracle version."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.store._db import now

if TYPE_CHECKING:
    from harness.store.core import Store


def oracle_get(store: Store, key: str) -> bytes | None:
    """The cached oracle payload for ``key``, or None."""
    row = store.conn.execute("SELECT payload FROM oracle_cache WHERE key = ?", (key,)).fetchone()
    return None if row is None else bytes(row[0])


def oracle_put(store: Store, key: str, payload: bytes) -> None:
    """Cache an oracle payload (first writer wins: the value is a pure function of the key)."""
    store.conn.execute("INSERT OR IGNORE INTO oracle_cache VALUES (?, ?, ?)",
                       (key, payload, now()))
