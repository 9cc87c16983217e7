"""The VS Code extension's own checks, run with the registry's real toolchain: its vitest
unit tests, a strict type check, and the bundle packaged as a .vsix that VS Code installs."""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

EXTENSION = Path(__file__).resolve().parent.parent / "editors" / "vscode"


def _npm(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    npm = shutil.which("npm")
    assert npm is not None, "node and npm are needed for the VS Code extension (Debian: apt-get install nodejs npm)"
    return subprocess.run([npm, *args], cwd=EXTENSION, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed() -> None:
    """The lockfile's packages. `npm install`, not `npm ci`: the registry reached here has no
    builds of rollup (vitest's bundler) for other platforms, so the lockfile lacks those
    optional entries and `npm ci` refuses it; the lockfile must come out unchanged."""
    lock = (EXTENSION / "package-lock.json").read_text()
    result = _npm("install", "--no-audit", "--no-fund")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (EXTENSION / "package-lock.json").read_text() == lock, "package-lock.json is out of date: run npm install in editors/vscode and commit it"


def test_unit_tests_pass(installed: None) -> None:
    result = _npm("test")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "passed" in result.stdout


def test_the_extension_type_checks(installed: None) -> None:
    result = _npm("run", "typecheck")
    assert result.returncode == 0, result.stdout[-3000:]


def test_the_vsix_holds_the_bundle_and_the_settings(installed: None) -> None:
    result = _npm("run", "package")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    with zipfile.ZipFile(EXTENSION / "fireside.vsix") as vsix:
        names = set(vsix.namelist())
        manifest = json.loads(vsix.read("extension/package.json"))
    assert {"extension/dist/extension.js", "extension/package.json", "extension/readme.md"} <= {n.lower() if n.endswith(".md") else n for n in names}
    assert not any("node_modules" in n or n.startswith("extension/src/") for n in names)  # bundled, sources left out
    settings = manifest["contributes"]["configuration"]["properties"]
    assert {"fireside.server.path", "fireside.models.completion", "fireside.completion.enabled", "fireside.cascade.cloudModel"} <= set(settings)
    assert manifest["main"] == "./dist/extension.js" and "onLanguage:python" in manifest["activationEvents"]
