"""llama.cpp's own `llama-server`, the peer baseline for Fireside's benches.

It is built from the llama.cpp sources vendored in the llama-cpp-python sdist, pinned to the
version the engine links, so a comparison measures the server around llama.cpp, not two
different llama.cpp versions. The build lives outside the repository, in
`~/.cache/fireside-bench` (once: 7 to 13 minutes on 2 cores):

    python -c "import sys; sys.path.insert(0, 'bench'); import llama_server; print(llama_server.find_or_build())"

`$LLAMA_SERVER` names an existing binary instead.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

LLAMA_CPP_PYTHON = "llama-cpp-python==0.3.36"
CACHE = Path.home() / ".cache" / "fireside-bench"
BINARY = CACHE / "build" / "bin" / "llama-server"
CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DGGML_NATIVE=ON",
    "-DBUILD_SHARED_LIBS=OFF",
)


def log(message: str) -> None:
    print(f"[llama_server] {message}", file=sys.stderr, flush=True)


def find_or_build(cache: Path = CACHE) -> Path:
    """A `llama-server` binary: $LLAMA_SERVER, else the cached build, else a fresh build."""
    if env := os.environ.get("LLAMA_SERVER"):
        path = Path(env).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"$LLAMA_SERVER={env} is not a file")
        return path
    binary = cache / "build" / "bin" / "llama-server"
    if binary.is_file():
        return binary
    return build(cache)


def cmake() -> str:
    """cmake from PATH, else the one the `cmake` wheel put next to this interpreter."""
    found = shutil.which("cmake") or shutil.which("cmake", path=str(Path(sys.executable).parent))
    if not found:
        raise RuntimeError("cmake is missing: `pip install cmake` into the venv")
    return found


def fetch_sources(cache: Path) -> Path:
    """The llama.cpp tree inside the pinned llama-cpp-python sdist, downloaded once."""
    sdists = cache / "sdist"
    sdists.mkdir(parents=True, exist_ok=True)
    version = LLAMA_CPP_PYTHON.split("==")[1]
    tree = sdists / f"llama_cpp_python-{version}"
    if (tree / "vendor" / "llama.cpp" / "CMakeLists.txt").is_file():
        return tree / "vendor" / "llama.cpp"
    archives = list(sdists.glob(f"llama_cpp_python-{version}.tar.gz"))
    if not archives:
        log(f"downloading the {LLAMA_CPP_PYTHON} sdist")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", LLAMA_CPP_PYTHON, "-d", str(sdists)],
            check=True, stdout=sys.stderr,
        )
        archives = list(sdists.glob("llama_cpp_python-*.tar.gz"))
    if not archives:
        raise RuntimeError(f"pip download left no sdist in {sdists}")
    log(f"unpacking {archives[0].name}")
    with tarfile.open(archives[0]) as tar:
        tar.extractall(sdists, filter="data")
    source = tree / "vendor" / "llama.cpp"
    if not (source / "CMakeLists.txt").is_file():
        raise RuntimeError(f"no llama.cpp sources at {source}")
    return source


def build(cache: Path = CACHE, jobs: int = 2) -> Path:
    """Configure and build only the `llama-server` target (static, native CPU flags)."""
    source = fetch_sources(cache)
    build_dir = cache / "build"
    tool = cmake()
    started = time.monotonic()
    log(f"configuring {source} into {build_dir}")
    subprocess.run([tool, "-S", str(source), "-B", str(build_dir), *CMAKE_FLAGS], check=True, stdout=sys.stderr)
    log(f"building llama-server with -j{jobs} (7 to 13 minutes on 2 cores)")
    subprocess.run([tool, "--build", str(build_dir), "--target", "llama-server", f"-j{jobs}"], check=True, stdout=sys.stderr)
    binary = build_dir / "bin" / "llama-server"
    if not binary.is_file():
        raise RuntimeError(f"the build finished without {binary}")
    log(f"built {binary} in {time.monotonic() - started:.0f} s")
    return binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(base_url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    """`/health` answers 503 while the model loads and 200 {"status": "ok"} once it can serve."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama-server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(base_url + "/health", timeout=1) as r:
                if json.loads(r.read()).get("status") == "ok":
                    return
        except (OSError, ValueError, urllib.error.HTTPError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"llama-server was not healthy within {timeout:.0f} s")


@contextmanager
def running(
    binary: Path | str,
    model_path: Path | str,
    *,
    port: int | None = None,
    ctx: int = 4096,
    parallel: int = 1,
    threads: int = 2,
    extra_args: Sequence[str] = (),
    timeout: float = 120,
) -> Iterator[str]:
    """Run llama-server on 127.0.0.1 for the block; yields its base URL, stops it after.

    `ctx` is the total context, shared by the `parallel` slots (llama-server divides it).
    Its log goes to a temporary file, printed to stderr only if it fails to start.
    """
    port = port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [
        str(binary), "-m", str(model_path), "--host", "127.0.0.1", "--port", str(port),
        "-c", str(ctx), "-np", str(parallel), "-t", str(threads), *extra_args,
    ]
    with tempfile.TemporaryFile() as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            try:
                wait_healthy(base_url, process, timeout)
            except RuntimeError:
                log_file.seek(0)
                sys.stderr.write(log_file.read().decode(errors="replace")[-4000:])
                raise
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


if __name__ == "__main__":
    print(find_or_build())
