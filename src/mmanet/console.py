"""The terminal: a run's progress (the command line's :class:`~mmanet.training.display.Display`)
and the results table, laid out to fit the terminal's width.

On a terminal: one live line for the whole run (model i/n, which model, epoch, elapsed, ETA) with
the runner's news printed above it. Otherwise (logs, CI): one plain line per model when it
finishes, with its time, never carriage-return progress bars.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from lightning.pytorch.callbacks import Callback
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from mmanet.reporting import format_cell, table_rows
from mmanet.training.display import Display

__all__ = ["ConsoleDisplay", "print_report"]

SUMMARY = {"mean": "mean of all", "worst": "worst of all"}  # never a combination: names have no spaces


class _EpochCallback(Callback):
    def __init__(self, display: ConsoleDisplay) -> None:
        self.display = display

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        self.display.epoch_done(int(trainer.current_epoch) + 1, int(trainer.max_epochs or 0))


class ConsoleDisplay(Display):
    """Progress on ``console``; ``live`` forces (or forbids) the live line (default: on a terminal)."""

    def __init__(self, console: Console, live: bool | None = None, enabled: bool = True) -> None:
        self.console = console
        self.enabled = enabled
        self.live = console.is_terminal if live is None else live
        self.models = 0
        self.total_models = 0
        self.epochs = 1
        self.label = ""
        self._started = 0.0
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    # the runner's view
    def begin(self, models: int, epochs: int) -> None:
        self.total_models, self.epochs = models, max(1, epochs)
        if self.live and self.enabled:
            columns = (
                TextColumn("{task.description}"),
                BarColumn(bar_width=20),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
            )
            self._progress = Progress(*columns, console=self.console, transient=True)
            self._progress.start()
            self._task = self._progress.add_task("starting", total=models * self.epochs)

    def end(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __enter__(self) -> ConsoleDisplay:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.end()

    def announce(self, text: str) -> None:
        self.console.print(text, highlight=False)

    def model_started(self, label: str) -> None:
        self.models += 1
        self.label = label
        self._started = time.perf_counter()
        self._describe(0)

    def model_finished(self, label: str) -> None:
        if not self.live and self.enabled:
            self.console.print(f"    {label}: done in {time.perf_counter() - self._started:.1f} s", highlight=False)

    def epoch_done(self, epoch: int, epochs: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, 1)
        self._describe(epoch, epochs)

    def callbacks(self) -> list[Callback]:
        return [_EpochCallback(self)]

    def _describe(self, epoch: int, epochs: int | None = None) -> None:
        if self._progress is None or self._task is None:
            return
        of = f"/{self.total_models}" if self.total_models else ""
        text = f"model {self.models}{of} · {self.label} · epoch {epoch}/{epochs or self.epochs}"
        self._progress.update(self._task, description=text)


def _width(header: list[str], rows: list[list[str]]) -> int:
    """Width of a rich table with box borders and one space of padding each side."""
    columns = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    return sum(w + 3 for w in columns) + 1


def _table(title: str, header: list[str], rows: list[list[str]], bold_from: int | None = None) -> Table:
    table = Table(title=title, title_justify="left")
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i == 0 else "right")
    for i, row in enumerate(rows):
        bold = bold_from is not None and i >= bold_from
        table.add_row(*row, style="bold" if bold else None, end_section=bold_from is not None and i == bold_from - 1)
    return table


def _cells(report: Mapping[str, Any], metric: str) -> tuple[list[str], list[str], dict[str, list[str]]]:
    """Row labels, the methods, and each method's column of formatted cells."""
    rows = table_rows(report)
    with_std = len(report["seeds"]) > 1

    def cell(method: str, row: tuple[str, str]) -> str:
        entry = report["methods"][method]
        values = entry[row[1]] if row[1] != "combinations" else entry["combinations"].get(row[0])
        return "-" if values is None else format_cell(values, metric, with_std)

    labels = [name if kind == "combinations" else SUMMARY[kind] for name, kind in rows]
    methods = list(report["methods"])
    return labels, methods, {m: [cell(m, r) for r in rows] for m in methods}


def _method_groups(labels: list[str], columns: dict[str, list[str]], width: int) -> list[list[str]]:
    """Methods in consecutive groups whose combination x method table fits ``width``."""
    groups: list[list[str]] = [[]]
    for method in columns:
        trial = [*groups[-1], method]
        rows = [[label, *(columns[m][i] for m in trial)] for i, label in enumerate(labels)]
        if groups[-1] and _width(["combination", *trial], rows) > width:
            groups.append([method])
        else:
            groups[-1] = trial
    return groups


def _summary_table(report: Mapping[str, Any], metric: str, title: str) -> Table:
    labels, methods, columns = _cells(report, metric)
    full = labels[-3]
    header = ["method", SUMMARY["mean"], SUMMARY["worst"], "worst is", f"{full} (all)"]
    rows = [[m, columns[m][-2], columns[m][-1], _worst_name(report, m), columns[m][-3]] for m in methods]
    return _table(title, header, rows)


def _worst_name(report: Mapping[str, Any], method: str) -> str:
    names = list(report["methods"][method].get("worst_combination", {}).values())
    return max(set(names), key=names.count) if names else "-"


def print_report(
    report: Mapping[str, Any], console: Console, metric: str | None = None, max_combinations: int = 15
) -> None:
    """Print the ``metric`` table (default: the first) to fit ``console``'s width, then notes and warnings.

    Up to ``max_combinations`` combinations: one row per combination, the methods split over as
    many tables as the width needs. More: the mean, the worst and the complete combination per
    method (``report.md`` has every combination).
    """
    metric = metric or report["metrics"][0]
    title = f"{report['dataset']} · {metric} (%) · {report['split']} split · seeds {report['seeds']}"
    labels, _, columns = _cells(report, metric)
    if len(labels) - 2 > max_combinations:
        console.print(_summary_table(report, metric, title))
        console.print("every combination is in report.md", highlight=False)
    else:
        for i, group in enumerate(_method_groups(labels, columns, console.width)):
            rows = [[label, *(columns[m][r] for m in group)] for r, label in enumerate(labels)]
            console.print(_table(title if i == 0 else "", ["combination", *group], rows, len(labels) - 2))
    if len(report["seeds"]) == 1:
        console.print(
            "One seed: differences under about a point are noise here; docs/results.md compares methods on 10 paired "
            "seeds with intervals.",
            highlight=False,
        )
    for warning in report.get("warnings", []):
        console.print(f"[bold yellow]warning:[/] {warning}")
