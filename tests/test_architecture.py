"""The architecture is enforced by import-linter contracts (pyproject `[tool.importlinter]`).

The checkout keeps every contract, and a forbidden import of each kind breaks its contract
with the offending import named. Those imports are written to a copy of the package in a
temporary directory, analysed instead of the checkout: `PYTHONPATH` and the working
directory put the copy first, and the import that breaks the contract exists only there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
# The capability contract's layer line, extended by one capability as its comment says.
CAPABILITY_LAYERS = 'layers = ["pncp | sales | shop"]'


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` over the package found from `cwd`, without a cache or coverage."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("COVERAGE_PROCESS_CONFIG", "COVERAGE_PROCESS_START")
    }
    env["PYTHONPATH"] = str(cwd)
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """project/ and pyproject.toml copied into a temporary directory."""
    shutil.copytree(
        REPO / "project", tmp_path / "project", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy2(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def append(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(f"\n{line}\n")


def test_checkout_keeps_every_contract() -> None:
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout
    assert " 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "offending"),
    [
        pytest.param(
            "lib/alerts.py",
            "import project.defs",
            "project.lib.alerts -> project.defs",
            id="lib-imports-definitions",
        ),
        pytest.param(
            "defs/ops/alerts.py",
            "import project.defs.pncp",
            "project.defs.ops.alerts -> project.defs.pncp",
            id="ops-imports-capability",
        ),
        pytest.param(
            "lib/logs.py",
            "import project.lib.pncp.endpoints",
            "project.lib.logs -> project.lib.pncp.endpoints",
            id="generic-lib-imports-capability",
        ),
        pytest.param(
            "settings.py",
            "import project.simulators.pncp",
            "project.settings -> project.simulators.pncp",
            id="production-imports-simulator",
        ),
    ],
)
def test_forbidden_import_breaks_its_contract(
    package_copy: Path, module: str, line: str, offending: str
) -> None:
    append(package_copy / "project" / module, line)

    result = lint_imports(package_copy)

    assert result.returncode != 0
    assert offending in result.stdout, result.stdout + result.stderr


def test_capability_importing_another_breaks_independence(package_copy: Path) -> None:
    # A new capability, added to the contract by its one-line change, imports another.
    fleet = package_copy / "project" / "defs" / "fleet"
    fleet.mkdir()
    (fleet / "__init__.py").write_text("import project.defs.pncp\n")
    pyproject = package_copy / "pyproject.toml"
    text = pyproject.read_text()
    assert CAPABILITY_LAYERS in text
    pyproject.write_text(
        text.replace(CAPABILITY_LAYERS, 'layers = ["pncp | sales | shop | (fleet)"]')
    )

    result = lint_imports(package_copy)

    assert result.returncode != 0
    assert "project.defs.fleet -> project.defs.pncp" in result.stdout, result.stdout
