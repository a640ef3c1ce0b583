"""Where Prefect runs for `cdp`: a configured server, the one `cdp server start` keeps, or none.

Step commands are fast by default: they call their plain function. They run as Prefect flows
when a server is configured (`PREFECT_API_URL`, a Prefect profile with one, or a running
`cdp server`) or when `--flow` is given; without a server Prefect then starts a temporary one
(about 10 s), which is what `cdp server start` avoids.

Nothing here imports Prefect: deciding costs no start-up time.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

DEFAULT_PORT = 4200
# Defaults that hold wherever `cdp` runs (pyproject's [tool.prefect] only applies in the repo):
# a temporary server may need a while on a busy 2-core machine; no network means no telemetry.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # Run loggers at INFO reach the server (the UI shows each step); the terminal only gets warnings.
    "PREFECT_LOGGING_LEVEL": "INFO",
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING",
    "PREFECT_LOGGING_HANDLERS_CONSOLE_FLOW_RUNS_LEVEL": "WARNING",
    "PREFECT_LOGGING_HANDLERS_CONSOLE_TASK_RUNS_LEVEL": "WARNING",
}


def server_dir() -> Path:
    """Where the persistent server keeps its pid file, log and database: $CDP_SERVER_DIR or ~/.cdp/server."""
    configured = os.environ.get("CDP_SERVER_DIR")
    return Path(configured) if configured else Path.home() / ".cdp" / "server"


def profile_api_url() -> str | None:
    """PREFECT_API_URL saved in the user's active Prefect profile (`prefect config set ...`), if any."""
    import tomllib

    path = Path(os.environ.get("PREFECT_PROFILES_PATH", Path.home() / ".prefect" / "profiles.toml"))
    try:
        profiles = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active", "ephemeral")
    return (profiles.get("profiles", {}).get(active) or {}).get("PREFECT_API_URL")


@dataclass
class ServerState:
    pid: int
    url: str
    started_at: str
    log: str
    prefect_home: str

    @property
    def alive(self) -> bool:
        return pid_alive(self.pid)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    # A zombie child still "exists"; a reaped one does not. Check /proc where there is one.
    status = Path(f"/proc/{pid}/status")
    if status.exists():
        try:
            return "\nState:\tZ" not in status.read_text()
        except OSError:
            return True
    return True


def read_server_state() -> ServerState | None:
    """The `cdp server` recorded in the state folder, if its process still lives."""
    path = server_dir() / "server.json"
    try:
        state = ServerState(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    return state if state.alive else None


@dataclass
class PrefectTarget:
    """Which Prefect server a flow would use, and where that choice came from."""

    url: str | None  # None: a temporary server Prefect starts itself
    origin: str      # "PREFECT_API_URL", "Prefect profile", "cdp server", "temporary"


def configured_server() -> PrefectTarget | None:
    """A server the user configured (environment, profile) or keeps running (`cdp server start`)."""
    if os.environ.get("PREFECT_API_URL"):
        origin = "cdp server" if os.environ.get("CDP_PREFECT_ORIGIN") == "cdp server" else "PREFECT_API_URL"
        return PrefectTarget(os.environ["PREFECT_API_URL"], origin)
    url = profile_api_url()
    if url:
        return PrefectTarget(url, "Prefect profile")
    state = read_server_state()
    if state:
        return PrefectTarget(state.url, "cdp server")
    return None


def health_problem(url: str, timeout: float = 2.0) -> str | None:
    """None when the Prefect API answers its health check, else why not."""
    import httpx

    try:
        response = httpx.get(url.rstrip("/") + "/health", timeout=timeout)
    except httpx.HTTPError as exc:
        return f"cannot reach the Prefect server at {url} ({type(exc).__name__})"
    if response.status_code != 200:
        return f"the Prefect server at {url} answered {response.status_code} to its health check"
    return None


def prepare_environment(home: Path | None) -> PrefectTarget:
    """Set the Prefect variables of this process before Prefect is imported; return the target.

    A running `cdp server` is exported as PREFECT_API_URL so every flow reuses it. Without any
    server, each home gets its own PREFECT_HOME (HOME/.prefect) for Prefect's temporary server:
    two runs on different homes sharing one SQLite database would lock each other.
    """
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    target = configured_server()
    if target is not None:
        if target.origin == "cdp server" and not os.environ.get("PREFECT_API_URL"):
            os.environ["PREFECT_API_URL"] = target.url
            os.environ["CDP_PREFECT_ORIGIN"] = "cdp server"
        return target
    if not os.environ.get("PREFECT_HOME") and home is not None:
        prefect_home = (home / ".prefect").resolve()
        prefect_home.mkdir(parents=True, exist_ok=True)  # Prefect makes only the last level itself
        os.environ["PREFECT_HOME"] = str(prefect_home)
    return PrefectTarget(None, "temporary")


# -- the persistent local server (`cdp server start|stop|status`) ---------------------------------

def start_server(host: str = "127.0.0.1", port: int = DEFAULT_PORT, wait_seconds: float = 180.0,
                 on_wait=None) -> ServerState:
    """Start `prefect server start` in the background (own session, survives this process)."""
    running = read_server_state()
    if running:
        return running
    folder = server_dir()
    folder.mkdir(parents=True, exist_ok=True)
    prefect_home = folder / "prefect"
    prefect_home.mkdir(exist_ok=True)
    log_path = folder / "server.log"
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL",)}
    env.update(PREFECT_HOME=str(prefect_home), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_UI_ENABLED=env.get("PREFECT_UI_ENABLED", "true"))
    url = f"http://{host}:{port}/api"
    problem = health_problem(url, timeout=0.5)
    if problem is None:
        raise RuntimeError(f"something already answers at {url}: point PREFECT_API_URL at it, or pass --port")
    log_file = open(log_path, "ab")
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)],
            stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True, cwd=str(folder))
    finally:
        log_file.close()
    state = ServerState(pid=process.pid, url=url, log=str(log_path), prefect_home=str(prefect_home),
                        started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    temp = folder / ".server.json.tmp"
    temp.write_text(json.dumps(state.__dict__), encoding="utf-8")
    temp.replace(folder / "server.json")
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            (folder / "server.json").unlink(missing_ok=True)
            raise RuntimeError(f"the Prefect server exited with code {process.returncode}; see {log_path}")
        if health_problem(url, timeout=1.0) is None:
            return state
        if on_wait:
            on_wait(time.monotonic() - (deadline - wait_seconds))
        time.sleep(0.5)
    raise RuntimeError(f"the Prefect server did not answer at {url} within {wait_seconds:.0f} s; see {log_path}")


def stop_server(wait_seconds: float = 30.0) -> ServerState | None:
    """Stop the recorded server (its whole process group); None when none was running."""
    state = read_server_state()
    path = server_dir() / "server.json"
    if state is None:
        path.unlink(missing_ok=True)
        return None
    try:
        os.killpg(state.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline and pid_alive(state.pid):
        try:  # reap it when it is our child (tests start and stop it in one process)
            os.waitpid(state.pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.2)
    if pid_alive(state.pid):
        try:
            os.killpg(state.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    path.unlink(missing_ok=True)
    return state
