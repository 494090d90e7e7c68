"""Keep native solver libraries off the process's stdout/stderr, and their scratch files in a folder that goes away.

``backend_call()`` wraps every backend call (``solvers.registry``): construction of the native object included,
since HiGHS 1.16 prints a two-line banner on **stdout** when a ``Highs`` object is created.

Output guard. C code writes to file descriptors 1 and 2 directly, past ``sys.stdout``; only an fd-level redirect
stops it. On entry Python's own buffers are flushed, fd 1 and fd 2 are ``dup``-ed aside and ``dup2``-ed onto one
temporary file; on exit they are restored and the file's text is kept in ``last_captured()`` (and, with
``FLEETPLAN_DEBUG=1``, copied to stderr) for debugging. Nested and concurrent (threads) uses share one redirect,
counted; fds are process-wide, so while a solve runs, anything else the process writes to fd 1/2 is captured too
(the CLI writes its output after solving), except that Python's ``sys.stderr`` keeps pointing at a terminal when
stderr is one (the spinner). A caller that asked for the solver's log (``msg``) is not guarded.

Scratch files. CBC (through pulp) writes ``.mps``/``.sol``/log files into ``TMPDIR``. During a backend call
``TMPDIR``/``TMP``/``TEMP`` and ``tempfile.tempdir`` point at a private folder ``fleetplan-<pid>-*`` of this
process, removed at exit, also on SIGTERM (turned into ``SystemExit`` when no other handler is set); a folder left
by a process that was killed with SIGKILL is removed by the next process that starts a solve.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

_LOCK = threading.RLock()
_depth = 0
_saved: tuple[int, int] | None = None
_capture = None
_last = ""
_scratch: Path | None = None
_saved_env: dict[str, str | None] = {}
_saved_tempdir: str | None = None
_depth_env = 0
_PREFIX = "fleetplan-"


def last_captured() -> str:
    """What native code wrote to fd 1/2 during the last guarded call that finished (for debugging)."""
    return _last


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(Exception):
            stream.flush()


@contextlib.contextmanager
def quiet_fds(enabled: bool = True) -> Iterator[None]:
    """Redirect fd 1 and fd 2 into a temporary file for the duration; restore them after (see module doc)."""
    global _depth, _saved, _capture, _last
    if not enabled:
        yield
        return
    with _LOCK:
        if _depth == 0:
            _flush()
            _capture = tempfile.TemporaryFile(mode="w+b")
            _saved = (os.dup(1), os.dup(2))
            os.dup2(_capture.fileno(), 1)
            os.dup2(_capture.fileno(), 2)
            _keep_python_stderr_on_terminal()
        _depth += 1
    try:
        yield
    finally:
        with _LOCK:
            _depth -= 1
            if _depth == 0 and _saved is not None:
                _flush()
                _restore_python_stderr()
                os.dup2(_saved[0], 1)
                os.dup2(_saved[1], 2)
                os.close(_saved[0])
                os.close(_saved[1])
                _saved = None
                _capture.seek(0)
                _last = _capture.read(1 << 20).decode("utf-8", "replace")
                _capture.close()
                _capture = None
                if _last and os.environ.get("FLEETPLAN_DEBUG") == "1":
                    sys.stderr.write(f"[solver output captured]\n{_last}\n")


_swapped_stderr = None


def _keep_python_stderr_on_terminal() -> None:
    """When stderr is a terminal, Python-level writes (the CLI's spinner, which runs in a thread during the solve)
    keep reaching it through a copy of the real fd 2; native writes to fd 2 are still captured. Off a terminal
    (pipes, CI) everything is captured."""
    global _swapped_stderr
    try:
        if not os.isatty(_saved[1]):
            return
        stream = open(os.dup(_saved[1]), "w", buffering=1, encoding=getattr(sys.stderr, "encoding", None) or "utf-8",
                      errors="backslashreplace", closefd=True)
    except (OSError, ValueError):
        return
    _swapped_stderr = (sys.stderr, stream)
    sys.stderr = stream


def _restore_python_stderr() -> None:
    global _swapped_stderr
    if _swapped_stderr is not None:
        original, stream = _swapped_stderr
        sys.stderr = original
        with contextlib.suppress(Exception):
            stream.close()
        _swapped_stderr = None


# --------------------------------------------------------------------------- scratch files


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(base: Path | None = None) -> list[Path]:
    """Remove scratch folders of processes that no longer run (killed before they could clean up)."""
    base = Path(base or tempfile.gettempdir())
    removed = []
    with contextlib.suppress(OSError):
        for d in base.glob(f"{_PREFIX}*-scratch"):
            parts = d.name[len(_PREFIX):].split("-")
            if not parts[0].isdigit() or int(parts[0]) == os.getpid() or _alive(int(parts[0])):
                continue
            with contextlib.suppress(OSError):
                if d.is_dir() and d.stat().st_uid == os.getuid():
                    shutil.rmtree(d, ignore_errors=True)
                    removed.append(d)
    return removed


def _remove_scratch() -> None:
    global _scratch
    if _scratch is not None:
        shutil.rmtree(_scratch, ignore_errors=True)
        _scratch = None


def _on_sigterm(signum, frame):  # noqa: ARG001
    raise SystemExit(128 + signum)  # runs finally blocks and atexit, which remove the scratch folder


def scratch_dir() -> Path:
    """This process's private scratch folder (created on first use; removed at exit and on SIGTERM)."""
    global _scratch
    with _LOCK:
        if _scratch is None or not _scratch.is_dir():
            base = Path(_saved_tempdir or tempfile.gettempdir()) if _depth_env else Path(tempfile.gettempdir())
            sweep_stale(base)
            _scratch = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", suffix="-scratch", dir=base))
            atexit.register(_remove_scratch)
            if threading.current_thread() is threading.main_thread() and \
                    signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
                signal.signal(signal.SIGTERM, _on_sigterm)
        return _scratch


@contextlib.contextmanager
def scratch_env() -> Iterator[Path]:
    """Point TMPDIR/TMP/TEMP and ``tempfile.tempdir`` at the scratch folder for the duration."""
    global _depth_env, _saved_tempdir
    with _LOCK:
        path = scratch_dir()
        if _depth_env == 0:
            for key in ("TMPDIR", "TMP", "TEMP"):
                _saved_env[key] = os.environ.get(key)
                os.environ[key] = str(path)
            _saved_tempdir = tempfile.tempdir
            tempfile.tempdir = str(path)
        _depth_env += 1
    try:
        yield path
    finally:
        with _LOCK:
            _depth_env -= 1
            if _depth_env == 0:
                for key, value in _saved_env.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
                _saved_env.clear()
                tempfile.tempdir = _saved_tempdir


@contextlib.contextmanager
def backend_call(show_output: bool = False) -> Iterator[None]:
    """Everything a backend call needs: scratch files in the private folder, and fd 1/2 guarded unless asked."""
    with scratch_env(), quiet_fds(enabled=not show_output):
        yield
