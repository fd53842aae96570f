"""Command line of tradealloc: run, validate and report scenarios, list strategies, fit models.

A thin click layer without domain logic: every command calls one library function.

Exit codes: 0 success; 2 user error (invalid scenario or option, missing input file, existing
or locked output directory, a file that cannot be read or written - every ``OSError``, named
by its path), printed as one line ``error: ...`` on stderr without a traceback; 1 unexpected
error (a short message; rerun with ``--debug`` for the traceback); 130 interrupted (Ctrl-C,
SIGINT) and 143 terminated (SIGTERM): the run stops, its workers are shut down, the previous
outputs stay whole and finished test days are kept for ``--resume``.

Examples
--------
::

    run-backtest run scenarios/quickstart.yaml
    run-backtest validate scenarios/frog_replay.yaml
    run-backtest strategies
    run-backtest fit ../shared/data/databento_mbp10/FROG_2025-04-03_mbp10.csv.gz \\
        --format databento --model linear --out frog_linear.json
    run-backtest report results/quickstart
"""

from __future__ import annotations

import dataclasses
import signal
import sys
import warnings
from pathlib import Path

import click

__all__ = ["cli", "main"]

# Packages whose ValueErrors are user errors (exit 2); a ValueError raised inside a
# third-party library is an unexpected error (exit 1).
_OWN_PACKAGES = ("models", "strategies", "simulator", "run_backtest", "examples")


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _raised_by_us(exc: BaseException) -> bool:
    """Whether the innermost frame of ``exc``'s traceback is in one of our packages."""
    tb = exc.__traceback__
    if tb is None:
        return True
    while tb.tb_next is not None:
        tb = tb.tb_next
    module = tb.tb_frame.f_globals.get("__name__", "")
    return module.split(".")[0] in _OWN_PACKAGES


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, so a run unwinds exactly as on Ctrl-C."""


_terminated = False


def _on_sigterm(signum, frame) -> None:
    global _terminated
    _terminated = True
    raise Terminated()


def _os_error_message(exc: OSError) -> str:
    """``<what went wrong>: <path>`` for an OSError (the path when it names one)."""
    if isinstance(exc, FileNotFoundError) and exc.filename is not None:
        return f"file not found: {exc.filename}"
    reason = exc.strerror or _one_line(exc) or type(exc).__name__
    if exc.filename is None:
        return f"{reason} ({type(exc).__name__})"
    names = str(exc.filename) + (f" -> {exc.filename2}" if exc.filename2 is not None else "")
    return f"{reason}: {names}"


def _user_error_message(exc: BaseException) -> str | None:
    """The one-line message of a user error, or None for an unexpected error."""
    from models.errors import TradeallocError

    if isinstance(exc, click.ClickException):
        return exc.format_message()
    if isinstance(exc, OSError):
        return _os_error_message(exc)
    if isinstance(exc, TradeallocError):
        return str(exc)
    if isinstance(exc, ValueError) and _raised_by_us(exc):
        return str(exc)
    return None


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Print a warning as one line ``warning: ...`` on stderr (no source line)."""
    click.echo(f"warning: {_one_line(message)}", err=True)


def _install_sigterm():
    """Handle SIGTERM like Ctrl-C (main thread only); return the previous handler."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _on_sigterm)


class _Cli(click.Group):
    """A click group mapping exceptions to exit codes and one-line messages."""

    debug = False

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """Run the command line; return or exit with 0, 1 or 2 (see the module docstring)."""
        global _terminated
        self.debug = False
        _terminated = False
        previous = _install_sigterm()
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _show_warning
                # joblib's note when an interrupted run cancels its queued tasks: expected.
                warnings.filterwarnings(
                    "ignore", message=r".*tasks which were still being processed by the workers"
                )
                try:
                    result = super().main(
                        args=args,
                        prog_name=prog_name or "run-backtest",
                        complete_var=complete_var,
                        standalone_mode=False,
                        **extra,
                    )
                    code = result if isinstance(result, int) else 0
                except (click.exceptions.Abort, KeyboardInterrupt):
                    # click turns KeyboardInterrupt (and so Terminated) into Abort.
                    if _terminated:
                        click.echo(
                            "error: terminated (SIGTERM); finished test days are kept, rerun "
                            "with --resume to continue",
                            err=True,
                        )
                        code = 143
                    else:
                        click.echo("error: interrupted", err=True)
                        code = 130
                except Exception as exc:
                    code = self._report(exc)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        if standalone_mode:
            sys.exit(code)
        return code

    def _report(self, exc: Exception) -> int:
        message = _user_error_message(exc)
        if self.debug and not isinstance(exc, click.ClickException):
            raise exc
        if message is not None:
            click.echo(f"error: {_one_line(message)}", err=True)
            return 2
        click.echo(
            f"error: unexpected {type(exc).__name__}: {_one_line(exc)} "
            "(rerun with --debug for the traceback)",
            err=True,
        )
        return 1


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Backtest intraday trade allocation under market impact."""
    ctx.command.debug = debug


_scenario_arg = click.argument(
    "scenario", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)


def _load(path: Path):
    from simulator.config import load_scenario

    return load_scenario(path)


@cli.command()
@_scenario_arg
@click.option(
    "--out", type=click.Path(path_type=Path), help="Output directory (overrides output.dir)."
)
@click.option("--n-jobs", type=int, help="Parallel workers (-1 = all cores).")
@click.option("--backend", type=click.Choice(["loky", "threading", "dask"]), help="joblib backend.")
@click.option("--scheduler", help="Dask scheduler address (implies --backend dask).")
@click.option("--seed", type=int, help="Root random seed (overrides evaluation.seed).")
@click.option("--overwrite", is_flag=True, help="Replace results already in the output directory.")
@click.option("--resume", is_flag=True, help="Continue an interrupted run in the output directory.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def run(scenario, out, n_jobs, backend, scheduler, seed, overwrite, resume, quiet):
    """Run SCENARIO and write results, summaries, figures and the report."""
    if overwrite and resume:
        raise click.UsageError("--overwrite and --resume exclude each other")
    config = _load(scenario)
    evaluation = {
        key: value
        for key, value in (
            ("n_jobs", n_jobs),
            ("backend", backend),
            ("scheduler", scheduler),
            ("seed", seed),
        )
        if value is not None
    }
    if scheduler is not None and backend is None:
        evaluation["backend"] = "dask"
    if evaluation:
        config = dataclasses.replace(
            config, evaluation=dataclasses.replace(config.evaluation, **evaluation)
        )
    if out is not None:
        config = dataclasses.replace(config, output=dataclasses.replace(config.output, dir=out))
    from simulator.run import run_scenario

    result = run_scenario(
        config, out_dir=config.output.dir, overwrite=overwrite, resume=resume, quiet=quiet
    )
    if not quiet:
        click.echo(result.headline())
    click.echo(f"results written to {result.out_dir}")
    if result.report_path is not None:
        click.echo(f"report written to {result.report_path}")


@cli.command()
@_scenario_arg
def validate(scenario):
    """Check SCENARIO (schema, strategies and model kind, data files, memory) and summarise it."""
    from simulator.config.resources import check_resources

    config = _load(scenario)
    check_resources(config)
    click.echo(config.describe())


@cli.command("strategies")
def list_strategies():
    """List the registered strategies (plugins included) with one-line descriptions."""
    from strategies import available_strategies

    registered = available_strategies()
    width = max((len(name) for name in registered), default=0)
    for name in sorted(registered):
        click.echo(f"{name:<{width}}  {registered[name]}")


@cli.command()
@click.argument("data", nargs=-1, required=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["databento", "lobster", "parquet"]),
    default="databento",
    show_default=True,
    help="Format of DATA.",
)
@click.option(
    "--model",
    "kind",
    type=click.Choice(["linear", "power", "book"]),
    default="linear",
    show_default=True,
    help="Impact model family.",
)
@click.option("--side", type=click.Choice(["buy", "sell"]), default="buy", show_default=True)
@click.option("--message", "message", multiple=True, help="LOBSTER message file(s) matching DATA.")
@click.option("--symbol", help="Symbol to keep (files with several symbols).")
@click.option(
    "--interval-minutes",
    type=float,
    default=1.0,
    show_default=True,
    help="Interval length in minutes (must divide the 390-minute session).",
)
@click.option(
    "--smoothing",
    type=float,
    default=0.0,
    show_default=True,
    help="Smoothing bandwidth across intervals, in intervals.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="JSON file the fitted model is saved to.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
def fit(data, fmt, kind, side, message, symbol, interval_minutes, smoothing, out, overwrite):
    """Fit an impact model on DATA (files, directories or globs) and save it as JSON."""
    from models import fit_impact_model
    from models.errors import InvalidParameterError
    from simulator.loaders import load_books

    if out.exists() and not overwrite:
        raise InvalidParameterError(
            f"--out file {str(out)!r} already exists; pass --overwrite to replace it"
        )
    paths = list(data) if len(data) > 1 else data[0]
    options = {}
    if fmt != "parquet":
        options["interval_minutes"] = interval_minutes
        if symbol is not None:
            options["symbol"] = symbol
    elif symbol is not None or interval_minutes != 1.0:
        raise click.UsageError("--symbol and --interval-minutes do not apply to --format parquet")
    if fmt == "lobster" and message:
        options["message_path"] = list(message) if len(message) > 1 else message[0]
    elif message:
        raise click.UsageError("--message applies only to --format lobster")
    books = load_books(paths, format=fmt, **options)
    model = fit_impact_model(books, kind, side=side, smoothing=smoothing)
    model.save(out)
    click.echo(f"fitted {kind} model on {books.n_days} day(s) x {books.n_intervals} intervals")
    click.echo(model.summary().describe().T.to_string(float_format=lambda v: f"{v:.6g}"))
    click.echo(f"model written to {out}")


@cli.command()
@click.argument("results_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def report(results_dir):
    """Re-render the figures and report of the results in RESULTS_DIR."""
    from simulator.report import render_report
    from simulator.rundir import RunLock, record_outputs, recover

    with RunLock(results_dir):
        recover(results_dir)
        path = render_report(results_dir)
        written = [path, *sorted((results_dir / "figures").glob("*.png"))]
        record_outputs(results_dir, [p.relative_to(results_dir) for p in written])
    click.echo(f"report written to {path}")


def main(argv=None) -> None:
    """Entry point of the ``run-backtest`` console script."""
    cli.main(args=argv, prog_name="run-backtest")


if __name__ == "__main__":
    main()
