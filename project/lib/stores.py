"""Side stores: directories of files that belong with the warehouse, registered by capabilities.

A capability may keep files beside the warehouse that its tables refer to: PNCP keeps
its response bodies in a content-addressed store that `raw.payload_json` reads; a
capability that lands files would keep them the same way. Backup, rollback, reset
(`project.lib.backup`) and the read-only query sandbox (`project.lib.query`) must treat
those directories as part of the warehouse, yet must not import every capability that
has one. So a capability registers its stores here, once, when its library module that
owns the store is imported:

    from project.lib import stores

    stores.register_store(stores.SideStore("pncp_payloads", root_beside))

and platform code asks `store_paths(warehouse_path)`. The registry is a plain dict in
this process: whatever entry point runs a backup or a query (the CLI, Dagster, a test)
must have imported the capability's module first, which each does explicitly
(`project.defs.pncp`, the CLI's backup and query commands).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class SideStore:
    """A directory that belongs with the warehouse at a given path.

    `name` is unique across capabilities (`<capability>_<what>`) and names the store's
    directory in a backup; `path_for` maps the warehouse file to the store's directory
    (usually beside it), which need not exist yet.
    """

    name: str
    path_for: Callable[[Path], Path]
    description: str = ""

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(
                f"side store name {self.name!r}: use lowercase letters, digits and _ "
                "(`<capability>_<what>`); it is a directory name in backups"
            )


_registry: dict[str, SideStore] = {}


def register_store(store: SideStore) -> SideStore:
    """Add `store`; registering a name again replaces it (a reloaded module re-registers)."""
    _registry[store.name] = store
    return store


def unregister_store(name: str) -> None:
    """Forget the store called `name` (no error if unknown)."""
    _registry.pop(name, None)


def registered_stores() -> tuple[SideStore, ...]:
    """Every registered store, by name."""
    return tuple(_registry[name] for name in sorted(_registry))


def store_paths(warehouse_path: Path) -> dict[str, Path]:
    """The directory of each registered store of the warehouse at `warehouse_path`, by name.

    Raises ValueError when one store's directory contains another's (or the warehouse's
    directory itself): a backup would copy those files twice and a restore swap them twice.
    """
    paths = {s.name: s.path_for(warehouse_path).resolve() for s in registered_stores()}
    home = warehouse_path.resolve().parent
    for name, path in paths.items():
        if path == home or path in home.parents:
            raise ValueError(f"side store {name} at {path} contains the warehouse itself")
        for other, other_path in paths.items():
            if other != name and other_path.is_relative_to(path):
                raise ValueError(f"side store {name} at {path} contains store {other}")
    return paths
