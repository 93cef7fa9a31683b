"""`pncp new pipeline NAME`: a pipeline that runs at once, refused names, rollback.

The end-to-end tests scaffold `demo_x` once, in a copy of the checkout (its tracked and
new files, `git ls-files`, without `.venv`): the copy's commands run with this checkout's
interpreter and `PYTHONPATH` set to the copy, so `project` (and the new `project.lib.demo_x`)
import from the copy and the checkout is never written. The copy then runs the test the
template wrote, and `dg list defs` (dg reads the copy's pyproject from its working
directory). The dbt manifest is copied too when the checkout has one: it is built from the
same dbt sources, and parsing them again would double the module's time.

Refusals and rollback call the library in process on temporary folders.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from project.lib.datasets.errors import CatalogError
from project.lib.datasets.scaffold_pipeline import TEMPLATE, ScaffoldError, check_name, create
from project.settings import PROJECT_ROOT
from tests.cli.conftest import run_pncp

PYTHON = Path(sys.executable)
NAME = "demo_x"
WRITTEN = [
    "conf/base/catalog/demo_x.yml",
    "conf/base/pipelines/demo_x.yml",
    "data/samples/demo_x/records.csv",
    "project/lib/demo_x/__init__.py",
    "project/lib/demo_x/nodes.py",
    "tests/pipelines/test_demo_x.py",
    "conf/base/parameters.yml",
]
# Children load the code location; coverage of their code comes from faster tests.
UNTRACED = ("COVERAGE_PROCESS_CONFIG", "COVERAGE_PROCESS_START", "CATALOG_CONF_DIR")


def tracked_files(repo: Path) -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [name for name in listed.split("\0") if name and (repo / name).is_file()]


def run_in(copy: Path, *args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), cwd=copy, env=dict(env), capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The checkout's files (what git tracks, or would) in a temporary folder."""
    if shutil.which("git") is None or not (PROJECT_ROOT / ".git").exists():
        pytest.skip("needs a git checkout to know which files make the project")
    copy = tmp_path_factory.mktemp("project_copy")
    for name in tracked_files(PROJECT_ROOT):
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_ROOT / name, copy / name)
    manifest = PROJECT_ROOT / "dbt_project" / "target" / "manifest.json"
    if manifest.exists():  # copied last, so it is newer than the copied dbt sources
        (copy / "dbt_project" / "target").mkdir(parents=True, exist_ok=True)
        shutil.copy(manifest, copy / "dbt_project" / "target" / "manifest.json")
    return copy


@pytest.fixture(scope="module")
def copy_env(copy: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("copy_state")
    env = {k: v for k, v in os.environ.items() if k not in UNTRACED}
    return {
        **env,
        "PYTHONPATH": str(copy),
        "PLATFORM_DATA_DIR": str(base / "data"),
        "DAGSTER_HOME": str(base / "dagster_home"),
        "COLUMNS": "200",
    }


@pytest.fixture(scope="module")
def parameters_before(copy: Path) -> bytes:
    return (copy / "conf" / "base" / "parameters.yml").read_bytes()


@pytest.fixture(scope="module")
def scaffolded(
    copy: Path, copy_env: dict[str, str], parameters_before: bytes
) -> subprocess.CompletedProcess[str]:
    """`pncp new pipeline demo_x`, run in the copy."""
    return run_in(copy, str(PYTHON), "-m", "project.cli", "new", "pipeline", NAME, env=copy_env)


@pytest.mark.slow
def test_new_pipeline_prints_the_files_written_and_next_steps(
    scaffolded: subprocess.CompletedProcess[str], copy: Path
) -> None:
    assert scaffolded.returncode == 0, scaffolded.stdout + scaffolded.stderr
    assert scaffolded.stderr == ""  # copier renders quietly, no warning reaches the operator
    listed = scaffolded.stdout.split("next steps:")[0].splitlines()[1:]
    assert [line.strip() for line in listed] == WRITTEN
    assert all((copy / path).is_file() for path in WRITTEN)
    assert not (copy / ".copier-answers.yml").exists()
    steps = scaffolded.stdout.split("next steps:")[1]
    assert f".venv/bin/python -m pytest tests/pipelines/test_{NAME}.py" in steps
    assert f".venv/bin/dg list defs --assets 'group:{NAME}'" in steps
    assert "make dev  (dagster dev)" in steps


@pytest.mark.slow
def test_parameters_keep_their_bytes_and_gain_the_pipelines_block(
    scaffolded: subprocess.CompletedProcess[str], copy: Path, parameters_before: bytes
) -> None:
    after = (copy / "conf" / "base" / "parameters.yml").read_bytes()
    assert after.startswith(parameters_before)
    assert after[len(parameters_before) :] == (
        b"\ndemo_x:\n  min_amount: 10              "
        b"# records below this amount are left out of the summary\n"
    )


@pytest.mark.slow
def test_the_generated_test_passes_in_the_project(
    scaffolded: subprocess.CompletedProcess[str], copy: Path, copy_env: dict[str, str]
) -> None:
    result = run_in(
        copy,
        str(PYTHON), "-m", "pytest", "-p", "no:cacheprovider", "-q",
        f"tests/pipelines/test_{NAME}.py",
        env=copy_env,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 passed" in result.stdout


@pytest.mark.slow
def test_dg_lists_the_new_pipelines_assets_and_check(
    scaffolded: subprocess.CompletedProcess[str], copy: Path, copy_env: dict[str, str]
) -> None:
    result = run_in(copy, str(PYTHON.parent / "dg"), "list", "defs", "--json", env=copy_env)

    assert result.returncode == 0, result.stderr[-3000:]
    listed = json.loads(result.stdout)
    groups = {a["asset_key"]: a["group_name"] for a in listed["assets"]}
    assert groups[f"{NAME}/summary"] == NAME
    assert groups[f"{NAME}/records_raw"] == f"{NAME}_raw"
    assert groups["inventory/reorders"] == "inventory"  # the other pipelines still load
    checks = {c["key"] for c in listed["asset_checks"]}
    assert f"{NAME}/summary:unique_category" in checks


@pytest.mark.slow
def test_generated_python_is_ruff_clean(
    scaffolded: subprocess.CompletedProcess[str], copy: Path, copy_env: dict[str, str]
) -> None:
    ruff = str(PYTHON.parent / "ruff")
    paths = [p for p in WRITTEN if p.endswith(".py")]
    for command in ([ruff, "check", *paths], [ruff, "format", "--check", *paths]):
        result = run_in(copy, *command, env=copy_env)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_the_architecture_contracts_still_hold(
    scaffolded: subprocess.CompletedProcess[str], copy: Path, copy_env: dict[str, str]
) -> None:
    lint_imports = str(PYTHON.parent / "lint-imports")

    result = run_in(copy, lint_imports, "--no-cache", "--no-logo", env=copy_env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 broken." in result.stdout


@pytest.mark.slow
def test_an_existing_pipeline_is_not_overwritten(
    scaffolded: subprocess.CompletedProcess[str], copy: Path, copy_env: dict[str, str]
) -> None:
    before = {path: (copy / path).read_bytes() for path in WRITTEN}
    command = [str(PYTHON), "-m", "project.cli", "new", "pipeline", NAME]

    result = run_in(copy, *command, env=copy_env)

    assert result.returncode == 2
    pipeline = copy / "conf" / "base" / "pipelines" / f"{NAME}.yml"
    assert result.stderr == f"error: pipeline {NAME!r} already exists: {pipeline}\n"
    assert {path: (copy / path).read_bytes() for path in WRITTEN} == before


# --- refusals and rollback, in process ---------------------------------------------------


IDENTIFIER = "pipeline name {name!r} must be a lowercase Python identifier: a letter, then"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Stock", IDENTIFIER),
        ("stock-moves", IDENTIFIER),
        ("2024_sales", IDENTIFIER),
        ("_private", IDENTIFIER),
        ("class", IDENTIFIER),
        ("", IDENTIFIER),
        ("inventory", "pipeline 'inventory' already exists: "),
        ("pncp", "'pncp' is a capability of the project (project/defs/pncp)"),
        ("sales", "'sales' is a capability of the project (project/defs/sales)"),
        ("datasets", "'datasets' is a library package of the project (project/lib/datasets)"),
        ("warehouse", "'warehouse' is a module of the project (project/lib/warehouse.py)"),
    ],
)
def test_a_name_that_cannot_be_a_new_pipeline_is_refused(
    project_conf: Path, name: str, message: str
) -> None:
    with pytest.raises(ScaffoldError, match="^" + re.escape(message.format(name=name))):
        check_name(name, PROJECT_ROOT, project_conf)


def test_a_catalog_namespace_is_refused(project_conf: Path) -> None:
    catalog = project_conf / "base" / "catalog" / "shipping.yml"
    catalog.write_text("shipping.parcels:\n  type: pandas.CSVDataset\n  filepath: p.csv\n")

    with pytest.raises(ScaffoldError, match="already has datasets in namespace 'shipping'"):
        check_name("shipping", PROJECT_ROOT, project_conf)


def test_a_parameter_key_is_refused(project_conf: Path) -> None:
    with (project_conf / "base" / "parameters.yml").open("a") as parameters:
        parameters.write("\nshipping:\n  max_weight: 30\n")

    with pytest.raises(ScaffoldError, match=re.escape("already has a key 'shipping'")):
        check_name("shipping", PROJECT_ROOT, project_conf)


def test_a_refused_name_is_one_line_and_exit_code_2() -> None:
    result = run_pncp("new", "pipeline", "Stock-Moves")

    assert result.code == 2
    assert result.stderr.startswith("error: pipeline name 'Stock-Moves' must be a lowercase")
    assert result.stderr.count("\n") == 1


def snapshot(*folders: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for folder in folders for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def root(tmp_path: Path, project_conf: Path) -> Path:
    """A project root holding a copy of the project's conf, an empty `project/lib` and
    `tests/`: what a scaffold writes to, without the checkout's code."""
    (tmp_path / "project" / "lib").mkdir(parents=True)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "conftest.py").write_text("")
    return tmp_path


@pytest.fixture
def importable(root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """`project.lib` also searched in `root`, as if `root` were the checkout, so a pipeline
    written there imports (and leaves its `__pycache__`) like one in the project."""
    import project.lib

    here = [*project.lib.__path__, str(root / "project" / "lib")]
    monkeypatch.setattr(project.lib, "__path__", here)
    imported = set(sys.modules)
    yield root
    for module in set(sys.modules) - imported:
        if module.startswith("project.lib.demo_"):
            del sys.modules[module]


BROKEN = {
    # The catalog does not load: found before the function is imported.
    "catalog": ("conf/base/catalog/{{ name }}.yml.jinja", "pandas.ParquetDataset",
                "pandas.NoSuch", "unknown type 'pandas.NoSuch'"),
    # The function imports (its bytecode written), then its parameter is not declared.
    "parameter": ("conf/base/pipelines/{{ name }}.yml.jinja", ".min_amount",
                  ".no_such_parameter", "no such parameter in parameters.yml"),
}  # fmt: skip


@pytest.mark.parametrize("broken", sorted(BROKEN))
def test_a_result_that_does_not_load_is_rolled_back(
    importable: Path, tmp_path_factory: pytest.TempPathFactory, broken: str
) -> None:
    root = importable
    path, old, new, error = BROKEN[broken]
    template = tmp_path_factory.mktemp("template") / "pipeline"
    shutil.copytree(TEMPLATE, template)
    (template / path).write_text((template / path).read_text().replace(old, new))
    before = snapshot(root)

    with pytest.raises(CatalogError, match=re.escape(error)):
        create("demo_y", root, root / "conf", template=template)

    assert snapshot(root) == before
    assert sorted(p.name for p in root.iterdir()) == ["conf", "project", "tests"]
    assert list((root / "project" / "lib").iterdir()) == []
    assert "project.lib.demo_y.nodes" not in sys.modules


def test_the_template_loads_in_process(importable: Path) -> None:
    written = create("demo_v", importable, importable / "conf")

    assert importable / "project" / "lib" / "demo_v" / "nodes.py" in written
    from project.lib.demo_v.nodes import summarize  # type: ignore[import-not-found]

    assert summarize.__module__ == "project.lib.demo_v.nodes"


def test_a_file_in_the_way_stops_everything_before_writing(root: Path) -> None:
    test_file = root / "tests" / "pipelines" / "test_demo_z.py"
    test_file.parent.mkdir()
    test_file.write_text("# someone's own test\n")
    before = snapshot(root)

    with pytest.raises(ScaffoldError, match=re.escape(f"{test_file} already exists; nothing")):
        create("demo_z", root, root / "conf", template=TEMPLATE)

    assert snapshot(root) == before
