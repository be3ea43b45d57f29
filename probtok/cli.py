"""The ``probtok`` command line.

Every command is a thin layer over the library. Errors that users can cause
(``ProbtokError``) print as one line plus a hint and exit non-zero; the
traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from probtok.errors import ProbtokError

app = typer.Typer(
    name="probtok",
    help=(
        "Learn closure models for shocked porous energetic materials: simulate micro "
        "(one pore) and meso (many pores) runs, fit probabilistic latent tokens on micro "
        "runs, adapt them to a few meso runs, and forecast hot-spot temperature and area "
        "with calibrated uncertainty.\n\n"
        "Start with:  probtok demo --out demo-out"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)
_state = {"debug": False}


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors.")):
    _state["debug"] = debug


@app.command()
def version():
    """Print the probtok version."""
    from probtok import __version__

    console.print(__version__)


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point: run the app, turning probtok errors into one-line messages."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        app(args=argv, standalone_mode=False)
    except ProbtokError as exc:
        if debug:
            traceback.print_exc()
        err_console.print(f"[bold red]error:[/] {exc.one_line()}", highlight=False, soft_wrap=True)
        if exc.hint:
            err_console.print(f"[bold]hint:[/] {exc.hint}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except (KeyboardInterrupt,):
        err_console.print("interrupted; finished work is kept, re-run the same command to resume")
        return 130
    except SystemExit as exc:  # typer/click exit paths (e.g. --help)
        return int(exc.code or 0)
    except Exception as exc:  # noqa: BLE001 - click usage errors and the unexpected
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return exc.exit_code
        if isinstance(exc, click.exceptions.Abort):
            return 1
        if debug:
            traceback.print_exc()
        else:
            err_console.print(
                f"[bold red]internal error:[/] {type(exc).__name__}: {exc}", highlight=False, soft_wrap=True
            )
            err_console.print("[bold]hint:[/] re-run with --debug for the traceback and report it")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
