"""The ``ferrogate`` command line. Each command delegates to the module that owns it."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help="FerroGate AI gateway.")

DEFAULT_CONFIG = "Ferrogate/Caddyfile"


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


def _config_path(config: str | None) -> Path:
    return Path(config or os.environ.get("FERROGATE_CONFIG") or DEFAULT_CONFIG)


ConfigOpt = Annotated[
    str | None,
    typer.Option("--config", "-c", help="Config file (Caddyfile or .toml). Default: $FERROGATE_CONFIG or Ferrogate/Caddyfile."),
]


@app.command()
def run(
    config: ConfigOpt = None,
    workers: Annotated[int | None, typer.Option("--workers", "-w", help="Worker processes (default: CPU count).")] = None,
    log_level: Annotated[
        LogLevel | None, typer.Option("--log-level", help="Process log level (overrides telemetry.log_level).")
    ] = None,
) -> None:
    """Start the gateway: supervisor, workers and control process."""
    from ferrogate.supervisor.commands import run_command

    raise typer.Exit(run_command(_config_path(config), workers, log_level.value if log_level else None))


@app.command()
def validate(config: ConfigOpt = None) -> None:
    """Load and check a config; print a summary, or every error with file:line:column."""
    from ferrogate.config.commands import validate_command

    raise typer.Exit(validate_command(_config_path(config)))


@app.command()
def adapt(config: ConfigOpt = None) -> None:
    """Print the TOML equivalent of a Caddyfile."""
    from ferrogate.config.commands import adapt_command

    raise typer.Exit(adapt_command(_config_path(config)))


@app.command()
def reload(
    config: ConfigOpt = None,
    graceful_upgrade: Annotated[bool, typer.Option("--graceful-upgrade", help="Hand the sockets to a new process generation.")] = False,
    admin_url: Annotated[str | None, typer.Option("--admin-url", help="Admin API of the running gateway.")] = None,
    admin_token: Annotated[str | None, typer.Option("--admin-token", help="Admin bearer token.")] = None,
    pid_file: Annotated[str | None, typer.Option("--pid-file", help="Supervisor pid file to signal.")] = None,
) -> None:
    """Validate a config and report the reload mode it needs; apply with --admin-url or --graceful-upgrade."""
    from ferrogate.supervisor.commands import reload_command

    raise typer.Exit(
        reload_command(
            _config_path(config),
            graceful_upgrade=graceful_upgrade,
            admin_url=admin_url,
            admin_token=admin_token,
            pid_file=pid_file,
        )
    )


@app.command("hash-key")
def hash_key(
    secret: Annotated[
        str | None,
        typer.Option("--secret", help="The virtual key to hash (default: read from stdin or a prompt, kept out of shell history)."),
    ] = None,
) -> None:
    """Print the stored (hashed) form of a virtual API key."""
    from ferrogate.governance.keys import hash_key_command, read_secret

    raise typer.Exit(hash_key_command(secret if secret is not None else read_secret()))


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"ferrogate {version('ferrogate')}")
        except PackageNotFoundError:
            print("ferrogate (version unknown: not installed as a package)")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """FerroGate AI gateway."""


def main() -> None:
    app()
