"""Folders with one meaning each (ARCHITECTURE.md): checked on the import statements of the package's source."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "fer_ros"


def imported_modules(path: Path) -> set[str]:
    """Every module an import statement of ``path`` names, at any depth (lazy imports included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def importers_of(prefix: str, folders: list[Path]) -> list[str]:
    return sorted(
        f"{path.relative_to(PACKAGE.parent)} imports {name}"
        for folder in folders
        for path in folder.rglob("*.py")
        for name in imported_modules(path)
        if name == prefix or name.startswith(prefix + ".")
    )


def test_nothing_at_run_time_imports_the_test_harness() -> None:
    folders = [p for p in PACKAGE.iterdir() if p.is_dir() and p.name not in ("testing", "__pycache__")]
    assert [PACKAGE / f for f in ("app", "bench", "cli", "nodes", "ros")] == sorted(
        p for p in folders if p.name in ("app", "bench", "cli", "nodes", "ros")
    )
    assert importers_of("fer_ros.testing", folders) == []


def test_ros_adapters_do_not_import_the_app_or_the_benchmarks() -> None:
    assert importers_of("fer_ros.app", [PACKAGE / "ros"]) == []
    assert importers_of("fer_ros.bench", [PACKAGE / "ros", PACKAGE / "app"]) == []


def test_the_scan_sees_lazy_imports(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from fer_ros.testing.ros_harness import wait_for\n    import fer_ros.testing\n")
    assert imported_modules(source) >= {"fer_ros.testing.ros_harness", "fer_ros.testing"}
