"""What the command line shows a person: one table style, progress, colour only where it helps.

Rich decides colour from the stream: none when output is piped or captured, none with `NO_COLOR`
set (https://no-color.org), forced with `FORCE_COLOR`. Tables and results go to stdout; progress,
notes and warnings to stderr, so `cdp ... --json | jq` and `cdp ... > file` stay clean.

Progress comes from the plain functions' own log records (`logging`), so connectors, identity
and profiles never import the command line: a record with `extra={"cdp_progress": {...}}`
advances a bar, any other INFO record of a watched logger becomes one line above it.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from typing import Any, Iterable, Iterator, Sequence

from rich import box
from rich.console import Console
from rich.table import Table

# Wide enough that a piped table never wraps its columns (a terminal uses its real width).
_PIPE_WIDTH = 200


def console(stderr: bool = False) -> Console:
    """A console on the current stdout/stderr (made per call so test capture and redirection hold)."""
    stream = sys.stderr if stderr else sys.stdout
    interactive = hasattr(stream, "isatty") and stream.isatty()
    return Console(file=stream, width=None if interactive else _PIPE_WIDTH, highlight=False,
                   no_color=bool(os.environ.get("NO_COLOR")) or None, soft_wrap=not interactive,
                   emoji=False)


def fmt(value: Any) -> str:
    """A figure as people read it: thousands separated; floats to 2-4 decimals; None as '-'."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value.is_integer() and abs(value) >= 1:
            return f"{int(value):,}"
        if abs(value) < 1:
            return f"{value:.4f}".rstrip("0").rstrip(".") or "0"
        return f"{value:,.2f}"
    return str(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None,
          numeric: Sequence[int] | None = None) -> Table:
    """The one table style of `cdp`: a title, a rule under the header, numbers right-aligned."""
    rows = [list(r) for r in rows]
    if numeric is None:  # a column is numeric when every value in it is a number (or empty)
        numeric = [i for i in range(len(headers))
                   if rows and all(isinstance(r[i], (int, float)) or r[i] is None for r in rows)]
    out = Table(title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD,
                show_edge=False, pad_edge=False, header_style="bold")
    for i, header in enumerate(headers):
        out.add_column(header, justify="right" if i in numeric else "left", no_wrap=True)
    for row in rows:
        out.add_row(*[fmt(c) for c in row])
    return out


def print_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None,
                numeric: Sequence[int] | None = None) -> None:
    console().print(table(headers, rows, title, numeric))


def note(message: str, command: str | None = None, style: str = "dim") -> None:
    """One line on stderr (progress, mode, hints): never in the way of stdout results."""
    prefix = f"cdp {command}: " if command else ""
    console(stderr=True).print(f"{prefix}{message}", style=style, markup=False, highlight=False)


def warn(message: str, command: str | None = None) -> None:
    note(message, command, style="yellow")


def error(message: str, command: str | None = None) -> None:
    prefix = f"cdp {command}: " if command else "cdp: "
    console(stderr=True).print(f"{prefix}{message}", style="red", markup=False, highlight=False)


class _ProgressHandler(logging.Handler):
    """Turns log records of the watched loggers into progress updates and lines."""

    def __init__(self, show: "StepProgress"):
        super().__init__(logging.DEBUG)
        self.show = show

    def emit(self, record: logging.LogRecord) -> None:  # pragma: no cover - exercised via StepProgress
        try:
            info = getattr(record, "cdp_progress", None)
            if info is not None:
                self.show.update(**info)
            elif record.levelno >= logging.INFO:
                self.show.line(record.getMessage(), warning=record.levelno >= logging.WARNING)
        except Exception:
            self.handleError(record)


class StepProgress:
    """Progress of one command: bars on a terminal, plain lines elsewhere (logs, CI, pipes).

    `update(task=..., description=..., advance=..., total=..., completed=..., done=...)` drives
    one bar per task key; `line(text)` prints a message above the bars.
    """

    def __init__(self, title: str, loggers: Sequence[str] = (), enabled: bool = True):
        self.title = title
        self.loggers = list(loggers)
        self.console = console(stderr=True)
        self.live = enabled and self.console.is_terminal
        self.enabled = enabled
        self._progress = None
        self._tasks: dict[str, Any] = {}
        self._plain_state: dict[str, dict] = {}
        self._started = time.perf_counter()

    def __enter__(self) -> "StepProgress":
        if self.live:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn,
                                       TextColumn, TimeElapsedColumn)

            self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                      MofNCompleteColumn(), TextColumn("{task.fields[detail]}"),
                                      TimeElapsedColumn(), console=self.console, transient=False)
            self._progress.__enter__()
        elif self.enabled:
            self.console.print(f"· {self.title} …", style="dim", markup=False)
        self._handler = _ProgressHandler(self)
        self._levels = []
        for name in self.loggers:
            logger = logging.getLogger(name)
            self._levels.append((logger, logger.level))
            if logger.getEffectiveLevel() > logging.DEBUG:  # progress records are DEBUG
                logger.setLevel(logging.DEBUG)
            logger.addHandler(self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for logger, level in self._levels:
            logger.removeHandler(self._handler)
            logger.setLevel(level)
        if self._progress is not None:
            for task_id in self._tasks.values():
                task = self._progress.tasks[task_id] if task_id < len(self._progress.tasks) else None
                if task is not None and task.total is None:
                    self._progress.update(task_id, total=max(task.completed, 1), completed=max(task.completed, 1))
            self._progress.__exit__(*exc)
        elif self.enabled and exc[0] is None:
            self.console.print(f"· {self.title} done in {time.perf_counter() - self._started:.1f} s",
                               style="dim", markup=False)

    def update(self, task: str = "main", description: str | None = None, advance: float = 0,
               total: float | None = None, completed: float | None = None, detail: str = "",
               done: bool = False, **_: Any) -> None:
        if not self.enabled:
            return
        if self._progress is None:
            # Plain output: one line when a task finishes (or describes a milestone), no spam.
            state = self._plain_state.setdefault(task, {"completed": 0.0})
            state["completed"] = completed if completed is not None else state["completed"] + advance
            if done:
                self.console.print(f"  · {description or task}"
                                   + (f": {detail}" if detail else ""), style="dim", markup=False)
            return
        if task not in self._tasks:
            self._tasks[task] = self._progress.add_task(description or task, total=total, detail=detail)
        task_id = self._tasks[task]
        kwargs: dict[str, Any] = {"advance": advance, "detail": detail}
        if description:
            kwargs["description"] = description
        if total is not None:
            kwargs["total"] = total
        if completed is not None:
            kwargs["completed"] = completed
            kwargs.pop("advance")
        if done:
            current = self._progress.tasks[task_id]
            final = total if total is not None else (completed if completed is not None
                                                      else current.completed + advance)
            kwargs.update(total=max(final or 0, 1) if not final else final, completed=final or 1)
            kwargs.pop("advance", None)
        self._progress.update(task_id, **kwargs)

    def line(self, text: str, warning: bool = False) -> None:
        if not self.enabled:
            return
        target = self._progress.console if self._progress is not None else self.console
        target.print(f"  {'! ' if warning else '· '}{text}", style="yellow" if warning else "dim",
                     markup=False, highlight=False)


@contextlib.contextmanager
def progress(title: str, loggers: Sequence[str] = (), enabled: bool = True) -> Iterator[StepProgress]:
    with StepProgress(title, loggers, enabled) as shown:
        yield shown
