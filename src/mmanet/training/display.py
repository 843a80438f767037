"""How training jobs report progress to whoever runs them, without printing themselves.

A job calls :meth:`Display.announce` for a line of news and :meth:`Display.model_started` when
it starts fitting a model, and adds :meth:`Display.callbacks` to the model's trainer. The
base class does nothing; the command line passes a display that draws on the terminal.
"""

from __future__ import annotations

from lightning.pytorch.callbacks import Callback

__all__ = ["Display"]


class Display:
    """Progress sink of a run; the default ignores everything."""

    def begin(self, models: int, epochs: int) -> None:
        """The run will fit ``models`` models of ``epochs`` epochs each (for an overall ETA)."""

    def end(self) -> None:
        """The run is over (or stopped)."""

    def announce(self, text: str) -> None:
        """One line of news (e.g. which prerequisite is trained)."""

    def model_started(self, label: str) -> None:
        """A model called ``label`` (``"seed 0 · customized · pix"``) starts fitting."""

    def model_finished(self, label: str) -> None:
        """The model called ``label`` has been fitted and tested."""

    def callbacks(self) -> list[Callback]:
        """Lightning callbacks that follow the epochs of the model being fitted."""
        return []
