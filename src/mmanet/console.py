"""Terminal progress of a run (the command line's :class:`~mmanet.training.display.Display`)."""

from __future__ import annotations

from rich.console import Console

from mmanet.training.display import Display

__all__ = ["ConsoleDisplay"]


class ConsoleDisplay(Display):
    """Prints the runner's news and each model it starts, one line each."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def announce(self, text: str) -> None:
        self.console.print(text, highlight=False)

    def model_started(self, label: str) -> None:
        self.console.print(f"    {label}", highlight=False)
