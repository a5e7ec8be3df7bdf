"""No service imports another: services/<x> imports only services/<x>, services/common and
contracts (services/cli, the command that starts them all, may import anything)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "services"
SHARED = ("common",)
ANYTHING = ("cli",)


def imported_modules(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, relative ones resolved, plus
    ``importlib.import_module("...")`` with a literal name."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = list(path.relative_to(root).parts[:-1])  # what a relative import starts from
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # ``from services import spooler`` imports a service as surely as ``import`` does.
            found += [(node.lineno, f"{module}.{alias.name}" if module == "services" else module)
                      for alias in node.names]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            found.append((node.lineno, node.args[0].value))
    return found


def forbidden_imports(path: Path, root: Path = ROOT) -> list[str]:
    parts = path.relative_to(root / "services").parts
    owner = parts[0] if len(parts) > 1 else None  # services/__init__.py belongs to no service
    if owner in ANYTHING:
        return []
    allowed = set(SHARED) | ({owner} if owner else set())
    problems = []
    for line, module in imported_modules(path, root):
        names = module.split(".")
        if names[0] != "services":
            continue  # contracts, the standard library, third parties
        if len(names) < 2 or names[1] not in allowed:
            problems.append(f"{path.relative_to(root)}:{line}: imports {module}")
    return problems


def test_no_service_imports_another_service():
    files = sorted(SERVICES.rglob("*.py"))
    assert len(files) > 50  # the walk really covers the services
    problems = [problem for path in files for problem in forbidden_imports(path)]
    assert not problems, "imports across services:\n" + "\n".join(problems)


def test_the_check_names_file_and_line_of_a_forbidden_import(tmp_path):
    # Given a service module importing another service (absolutely, relatively, dynamically)
    module = tmp_path / "services" / "analysis" / "sub" / "bad.py"
    module.parent.mkdir(parents=True)
    module.write_text("import os\nfrom services.archiver.transfer import sha256_of\n"
                      "from ...spooler import book\nfrom services import emulator\n"
                      "from services.common import shot_storage\nfrom . import sibling\n"
                      "import importlib\nimportlib.import_module('services.ingest.app')\n")
    # Then each is named by file and line; what the service may import is not
    assert forbidden_imports(module, tmp_path) == [
        "services/analysis/sub/bad.py:2: imports services.archiver.transfer",
        "services/analysis/sub/bad.py:3: imports services.spooler",
        "services/analysis/sub/bad.py:4: imports services.emulator",
        "services/analysis/sub/bad.py:8: imports services.ingest.app",
    ]


def test_a_shared_module_imports_no_service(tmp_path):
    module = tmp_path / "services" / "common" / "x.py"
    module.parent.mkdir(parents=True)
    module.write_text("from services.spooler.book import JobBook\n"
                      "from contracts.events import Event\n")
    assert forbidden_imports(module, tmp_path) == [
        "services/common/x.py:1: imports services.spooler.book"]
