"""The ``healthcard`` command line (typer).

One sub-app per area, each mounted the same way (``app.add_typer(area.app)``):

- :mod:`~healthcard.cli.demo` -- ``demo``, a simulated hospital day;
- :mod:`~healthcard.cli.readmodels` -- ``booking``, ``triage``, ``projections ...``;
- :mod:`~healthcard.cli.analytics` -- ``history``, ``as-of``, ``export``, ``stats``;
- :mod:`~healthcard.cli.audit` -- ``audit``;
- :mod:`~healthcard.cli.qr` -- ``qr verify``;
- :mod:`~healthcard.cli.keys` -- ``keys generate|rotate|retire|show``;
- :mod:`~healthcard.cli.privacy` -- ``privacy status|complete-erasures``;
- :mod:`~healthcard.cli.db` -- ``db init``, the tables before processes start.

What they share: :mod:`~healthcard.cli.options` (``--db`` and its one default,
opening the log read-only for commands that only read, times, ``--json``),
:mod:`~healthcard.cli.logfiles` (what a file given as the log must be),
:mod:`~healthcard.cli.outputs` (where a command may write),
:mod:`~healthcard.cli.errors` (a refusal prints ``error[code]: message``, a path that
cannot work ``error: ...``, both exit 2) and :mod:`~healthcard.cli.progress`. A new
command goes into its area's module (or a new module with its own ``app``, mounted
here), built with ``new_app()``; one that only reads opens the log with
``read_only=True`` and has ``--json``.
"""

from __future__ import annotations

import typer

from healthcard import __version__
from healthcard.cli import analytics, audit, db, demo, keys, privacy, qr, readmodels
from healthcard.cli.errors import exits_on_domain_error, new_app
from healthcard.cli.options import JsonOption, print_json

app = new_app(
    name="healthcard",
    help="Resident electronic health cards (Sichuan): event-sourced, with a demo.",
)

for area in (demo, readmodels, analytics, audit, qr, keys, privacy, db):
    app.add_typer(area.app)


@app.command()
def version(as_json: JsonOption = False) -> None:
    """Print the library version."""
    if as_json:
        print_json({"version": __version__})
        return
    typer.echo(f"healthcard {__version__}")


def main() -> None:
    """Entry point of the ``healthcard`` console script."""
    app()


__all__ = ["app", "exits_on_domain_error", "main"]
