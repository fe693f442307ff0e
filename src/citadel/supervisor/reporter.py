"""What the supervisor tells the person at the terminal (or the journal): progress and state changes."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn


class Reporter:
    """Spinners while services start (on a terminal), one plain line per event everywhere."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True, highlight=False, soft_wrap=True)
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> Reporter:
        self._progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._progress.stop()

    def starting(self, name: str, pid: int | None, where: str) -> None:
        self.console.print(f"[cyan]▶[/] {name}: started (pid {pid}), waiting for {where}")
        self._tasks[name] = self._progress.add_task(f"waiting for {name}", total=None)

    def tick(self, name: str) -> None:
        if name in self._tasks:
            self._progress.update(self._tasks[name])

    def _done(self, name: str) -> None:
        task = self._tasks.pop(name, None)
        if task is not None:
            self._progress.remove_task(task)

    def healthy(self, name: str, seconds: float) -> None:
        self._done(name)
        self.console.print(f"[green]✓[/] {name}: healthy after {seconds:.1f} s")

    def failed(self, name: str, reason: str) -> None:
        self._done(name)
        self.console.print(f"[red]✗[/] {name}: {reason}")

    def restarting(self, name: str, what: str, delay: float, restarts: int) -> None:
        """``what``: how it ended, e.g. "killed by SIGSEGV" (see :mod:`citadel.supervisor.exits`)."""
        self.console.print(f"[yellow]↻[/] {name}: {escape(what)}; restart #{restarts} in {delay:.1f} s")

    def gave_up(self, name: str, reason: str) -> None:
        """One line: the service is not restarted any more (``reason`` says "given up"), why, what to try."""
        self._done(name)
        self.console.print(f"[red]✗[/] {name}: {escape(reason)}")

    def info(self, message: str) -> None:
        self.console.print(message)
