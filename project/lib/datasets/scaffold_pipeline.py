"""`new pipeline NAME`: a YAML pipeline that runs at once, from the template in
`project/templates/pipeline` (its pipeline file, function, catalog entries, sample data,
parameters and a test that materializes it through Dagster).

The template is rendered with copier (Jinja in file names and contents, derived values in
`copier.yml`) into a staging folder, not into the project: only then are the files known,
so every one is checked to be new before anything is written, and what was written is
exactly what a rollback removes. A rendered file named `<file>.append` is appended to
`<file>` (the parameters), whose earlier bytes stay as they were. Files under `conf/` go to
the conf folder in use (`CATALOG_CONF_DIR`), the rest under the project root.

A name is refused before anything is written when it is not a lowercase identifier, or is
already a pipeline, a capability or library module, a catalog namespace or a parameter key.
After writing, the catalog and every pipeline are loaded as `dagster dev` loads them (the
new function imported); if they do not load, every written file and folder is removed,
appended files get their old bytes back, and the error is raised.
"""

from __future__ import annotations

import importlib
import keyword
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from project.lib.datasets import config
from project.lib.datasets.catalog import Catalog
from project.lib.datasets.errors import CatalogError
from project.lib.datasets.pipelines import (
    PIPELINES_FOLDER,
    load_parameters,
    load_pipelines,
)

TEMPLATE = Path(str(files("project") / "templates" / "pipeline"))
APPEND = ".append"
# Lowercase, starting with a letter: the name is a package, a catalog namespace (a leading
# `_` makes a catalog key a private variable), a Dagster group and an environment variable.
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# Folders of `project/` whose children a new pipeline must not shadow: capabilities'
# definitions, and the library (capabilities, other pipelines, generic modules).
_TAKEN = {"defs": "a capability", "lib": "a library package"}


class ScaffoldError(ValueError):
    """The name cannot be used, or the result would overwrite a file; nothing was written."""


@dataclass
class Written:
    """What a scaffold wrote: new files, files appended to (with their earlier bytes), and
    the folders it created (removed whole on rollback, with any `__pycache__` inside)."""

    created: list[Path] = field(default_factory=list)
    appended: dict[Path, bytes] = field(default_factory=dict)
    folders: list[Path] = field(default_factory=list)

    @property
    def files(self) -> list[Path]:
        return [*self.created, *self.appended]

    def rollback(self) -> None:
        for path, before in self.appended.items():
            path.write_bytes(before)
        for path in self.created:
            path.unlink(missing_ok=True)
        for folder in reversed(self.folders):
            shutil.rmtree(folder, ignore_errors=True)


def check_name(name: str, root: Path, conf_dir: Path) -> None:
    """Refuse `name` when it cannot be a new pipeline; the message says why and where."""
    if not _NAME.match(name) or keyword.iskeyword(name):
        raise ScaffoldError(
            f"pipeline name {name!r} must be a lowercase Python identifier: a letter, then "
            "letters, digits or '_' (e.g. stock_moves)"
        )
    pipeline = conf_dir / config.BASE_ENV / PIPELINES_FOLDER / f"{name}.yml"
    for path in (pipeline, pipeline.with_suffix(".yaml")):
        if path.exists():
            raise ScaffoldError(f"pipeline {name!r} already exists: {path}")
    package = root / "project"
    for folder, kind in _TAKEN.items():
        for path in (package / folder / name, package / folder / f"{name}.py"):
            if path.exists():
                what = kind if path.is_dir() else "a module"
                raise ScaffoldError(
                    f"{name!r} is {what} of the project ({path.relative_to(root)}); "
                    "choose another name"
                )
    catalog = Catalog.load(conf_dir, config.BASE_ENV, root=root)
    for entry in catalog.config.entries:
        if entry.split(".", 1)[0] == name:
            origin = catalog.config.origin(entry)
            where = f" ({origin.file}:{origin.line})" if origin else ""
            raise ScaffoldError(
                f"the catalog already has datasets in namespace {name!r}: {entry}{where}; "
                "choose another name"
            )
    if name in load_parameters(conf_dir, config.BASE_ENV):
        raise ScaffoldError(
            f"parameters.yml already has a key {name!r}; choose another pipeline name"
        )


def render(name: str, staging: Path, template: Path = TEMPLATE) -> list[Path]:
    """The template rendered for `name` under `staging`; the files' relative paths."""
    import copier  # here: it pulls in Jinja, questionary and plumbum, the CLI's other
    # commands do not need them

    copier.run_copy(
        str(template), staging, data={"name": name}, defaults=True, quiet=True, unsafe=False
    )
    return sorted(p.relative_to(staging) for p in staging.rglob("*") if p.is_file())


def destination(relative: Path, root: Path, conf_dir: Path) -> Path:
    """Where a rendered file goes: `conf/...` to the conf folder in use, the rest under
    the project root."""
    if relative.parts[0] == "conf":
        return conf_dir.joinpath(*relative.parts[1:])
    return root / relative


def create(name: str, root: Path, conf_dir: Path, template: Path = TEMPLATE) -> list[Path]:
    """Write pipeline `name` into the project at `root`; the files written. Rolled back,
    and the error raised, unless the catalog and every pipeline still load."""
    check_name(name, root, conf_dir)
    try:
        check_loads(root, conf_dir)
    except CatalogError as exc:
        raise ScaffoldError(f"the project does not load yet; fix this first: {exc}") from None
    written = Written()
    with tempfile.TemporaryDirectory(prefix=f"new-pipeline-{name}-") as tmp:
        staging = Path(tmp)
        rendered = render(name, staging, template)
        plan = [(staging / rel, *_target(rel, root, conf_dir)) for rel in rendered]
        for _, target, add in plan:
            if not add and target.exists():
                raise ScaffoldError(f"{target} already exists; nothing was written")
        try:
            for source, target, add in plan:
                _write(source, target, add, written)
            check_loads(root, conf_dir)
        except BaseException:
            written.rollback()
            _forget(name)
            raise
    return written.files


def _target(relative: Path, root: Path, conf_dir: Path) -> tuple[Path, bool]:
    """Where a rendered file goes, and whether it is appended there (`<file>.append`)."""
    target = destination(relative, root, conf_dir)
    if target.name.endswith(APPEND):
        return target.with_name(target.name[: -len(APPEND)]), True
    return target, False


def _write(source: Path, target: Path, add: bool, written: Written) -> None:
    missing = [p for p in (target.parent, *target.parent.parents) if not p.exists()]
    if missing:
        written.folders.append(missing[-1])  # the topmost: removing it removes the rest
        target.parent.mkdir(parents=True)
    if add and target.exists():
        before = target.read_bytes()
        written.appended.setdefault(target, before)
        target.write_bytes(before + _spacer(before) + source.read_bytes())
    else:
        shutil.copyfile(source, target)
        written.created.append(target)


def _spacer(before: bytes) -> bytes:
    """A blank line between the old content and the appended block, whatever its end."""
    if not before or before.endswith(b"\n\n"):
        return b""
    return b"\n" if before.endswith(b"\n") else b"\n\n"


def check_loads(root: Path, conf_dir: Path) -> None:
    """The catalog and every pipeline load together, their functions imported."""
    importlib.invalidate_caches()  # the import system has not seen a new package yet
    catalog = Catalog.load(conf_dir, config.BASE_ENV, root=root)
    load_pipelines(
        conf_dir,
        parameters=load_parameters(conf_dir, config.BASE_ENV),
        is_dataset=lambda dataset: catalog.resolve(dataset) is not None,
    )


def _forget(name: str) -> None:
    """Drop the rolled-back package from this process's imports."""
    prefix = f"project.lib.{name}"
    for module in [m for m in sys.modules if m == prefix or m.startswith(prefix + ".")]:
        del sys.modules[module]
