"""Progress of a long command on stderr: library ``progress(stage, info)`` events -> one rich progress line.

The library never prints; ``solve_scenario``, ``run_forecast`` and ``run_sweep`` take an optional
``progress: Callable[[str, dict], None]`` and call it as each stage starts. ``StageProgress`` is that callable:
it shows the stage in words, a bar with "done/total" for counted stages (months, levels, sweep points), the
incumbent / bound / gap when a backend reports them, the elapsed time of the whole command, and the time
left: rich's estimate for counted stages, or "≤ limit − elapsed" for a solve that runs against a time limit.

It is off (and the library gets ``None``) when stderr is not a terminal or ``--quiet`` is given, so piped
output and logs never carry progress lines; rich's progress machinery is then not even imported.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # types only: rich.progress is imported when a progress line is shown (a terminal)
    from rich.console import Console

QUIET_HELP = "No progress display on stderr (it is also off when stderr is not a terminal)."

# stage -> words; "{key}" is filled from the event's info.
_WORDS = {
    "options": "enumerating deployment options",
    "first plan": "a first plan from the constructive start ({options} options x {periods} periods)",
    "restricted": "a plan from the cheapest options per workload ({options} options)",
    "bounding": "a lower bound: each workload's program, the offers' caps priced ({workloads} workloads)",
    "building": "building the integer program ({options} options)",
    "solving": "solving with {solver}",
    "baselines": "baselines",
    "verification": "verifying the plan independently",
    "forecast": "forecast over {months} months",
    "month": "months solved",
    "levels": "reserved levels per month",
    "master": "master program over commitments",
    "points": "what-if points",
    "point": "what-if points",
}
_COUNTED = {"month", "levels", "points", "point"}


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _progress(console: Console):
    """rich's Progress with this module's columns (imported here: only a terminal shows progress)."""
    from rich.progress import (  # noqa: PLC0415
        BarColumn, MofNCompleteColumn, Progress, ProgressColumn, SpinnerColumn, Task, TextColumn)
    from rich.text import Text  # noqa: PLC0415

    class _Bar(BarColumn):
        """The bar of a counted stage; nothing for a stage without a count (no pulsing bar that means nothing)."""

        def render(self, task: Task):
            return super().render(task) if task.total is not None else Text("")

    class _Count(MofNCompleteColumn):
        def render(self, task: Task) -> Text:
            return super().render(task) if task.total is not None else Text("")

    class _Elapsed(ProgressColumn):
        """Time since the command started (not since the stage started)."""

        def render(self, task: Task) -> Text:
            started = task.fields.get("started")
            return Text(_clock(time.monotonic() - started) if started else "", style="progress.elapsed")

    class _Remaining(ProgressColumn):
        """Estimated time left in a counted stage; at most ``limit − elapsed`` in a stage with a time limit."""

        def render(self, task: Task) -> Text:
            if task.total is not None and task.completed:
                left = task.time_remaining
                return Text("" if left is None else f"~{_clock(left)} left", style="progress.remaining")
            limit = task.fields.get("limit_s")
            if limit:
                since = task.fields.get("stage_started") or time.monotonic()
                return Text(f"≤{_clock(limit - (time.monotonic() - since))} left", style="progress.remaining")
            return Text("")

    return Progress(
        SpinnerColumn(), TextColumn("[bold]{task.fields[title]}[/] {task.description}"),
        _Bar(bar_width=20), _Count(), TextColumn("{task.fields[detail]}", style="dim"),
        _Elapsed(), _Remaining(), console=console, transient=True,
        redirect_stdout=False, redirect_stderr=False)  # stdout carries only the requested output


def _detail(stage: str, info: dict[str, Any]) -> str:
    """Incumbent / bound / gap and other facts of an event worth showing beside the stage."""
    parts = []
    if info.get("incumbent_usd_per_hour") is not None:
        parts.append(f"incumbent {info['incumbent_usd_per_hour']:,.2f} USD/h")
    if info.get("bound_usd_per_hour") is not None:
        parts.append(f"bound {info['bound_usd_per_hour']:,.2f}")
    if info.get("gap") is not None:
        parts.append(f"gap {100 * info['gap']:.2f} %")
    if stage in ("month", "levels") and info.get("month"):
        parts.append(str(info["month"]))
    if stage == "baselines" and info.get("variant"):
        parts.append(str(info["variant"]).replace("_", "-"))
    if stage in ("point", "points") and info.get("status"):
        parts.append(f"last: {info['status']}")
    return " · ".join(parts)


class StageProgress:
    """A context manager whose instance is the ``progress`` callback; a no-op when not enabled."""

    def __init__(self, title: str, console: Console, *, enabled: bool = True):
        self.title = title
        self.enabled = enabled
        self.started = time.monotonic()
        self._bar = _progress(console) if enabled else None
        self._task = None
        self._stage: str | None = None

    def __enter__(self) -> StageProgress:
        if self.enabled:
            self._bar.__enter__()
            self._task = self._bar.add_task("starting", total=None, title=self.title, detail="",
                                            started=self.started, stage_started=time.monotonic(), limit_s=None)
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self._bar.__exit__(*exc)

    def callback(self):
        """What to pass to the library: this object when enabled, else None (no calls at all)."""
        return self if self.enabled else None

    def __call__(self, stage: str, info: dict[str, Any]) -> None:
        if not self.enabled or self._task is None or stage == "done":
            return
        key = "points" if stage == "point" else stage
        words = _WORDS.get(stage, stage.replace("_", " "))
        try:
            words = words.format(**info)
        except (KeyError, IndexError, ValueError):
            pass
        total = info.get("total") if stage in _COUNTED else None
        done = info.get("done", 0) if stage in _COUNTED else 0
        fields: dict[str, Any] = {"detail": _detail(stage, info)}
        if key != self._stage or (stage in _COUNTED and done == 0):
            # A new stage: restart the bar (and rich's speed estimate) and the stage clock.
            self._bar.reset(self._task, total=total, completed=done, description=words)
            fields.update(stage_started=time.monotonic(), limit_s=info.get("time_limit_s"))
            self._stage = key
        self._bar.update(self._task, completed=done, description=words, **fields)


def stage_progress(title: str, console: Console, quiet: bool) -> StageProgress:
    """Progress for a command: shown only when ``console`` (stderr) is a terminal and not ``quiet``."""
    return StageProgress(title, console, enabled=not quiet and console.is_terminal)
