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


AdminUrlOpt = Annotated[
    str | None, typer.Option("--admin-url", help="Admin API (default: $FERROGATE_ADMIN_URL or http://127.0.0.1:2019).")
]
AdminTokenOpt = Annotated[str | None, typer.Option("--admin-token", help="Admin bearer token (default: $FERROGATE_ADMIN_TOKEN).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="A field as name=value (JSON values allowed); repeat it.")]


def _object_commands(name: str, segment: str, what: str) -> typer.Typer:
    """list / show / create / update / delete for one kind of admin object."""
    group = typer.Typer(no_args_is_help=True, help=f"Manage {what} over the admin API.")

    def go(action: str, ident: str | None, sets: list[str] | None, as_json: bool, url: str | None, token: str | None) -> None:
        from ferrogate.control.admin_cli import run_command

        raise typer.Exit(run_command(url, token, segment, action, ident, sets or [], as_json))

    @group.command("list")
    def list_(as_json: JsonOpt = False, admin_url: AdminUrlOpt = None, admin_token: AdminTokenOpt = None) -> None:
        """Every one, from the config file and the admin API."""
        go("list", None, None, as_json, admin_url, admin_token)

    @group.command()
    def show(ident: str, as_json: JsonOpt = False, admin_url: AdminUrlOpt = None, admin_token: AdminTokenOpt = None) -> None:
        """One, by id (a policy: by name)."""
        go("show", ident, None, as_json, admin_url, admin_token)

    @group.command()
    def create(
        set_: SetOpt = None, as_json: JsonOpt = False, admin_url: AdminUrlOpt = None, admin_token: AdminTokenOpt = None
    ) -> None:
        """Make one (a key's secret is printed once)."""
        go("create", None, set_, as_json, admin_url, admin_token)

    @group.command()
    def update(
        ident: str, set_: SetOpt = None, as_json: JsonOpt = False, admin_url: AdminUrlOpt = None, admin_token: AdminTokenOpt = None
    ) -> None:
        """Change the fields given with --set."""
        go("update", ident, set_, as_json, admin_url, admin_token)

    @group.command("revoke" if name == "keys" else "delete")
    def delete(ident: str, admin_url: AdminUrlOpt = None, admin_token: AdminTokenOpt = None) -> None:
        """Remove one made over the admin API."""
        go("delete", ident, None, False, admin_url, admin_token)

    if name == "keys":

        @group.command()
        def rotate(
            ident: str,
            grace_secs: Annotated[
                float, typer.Option("--grace-secs", help="Keep the old secret working this long (0 to 2592000).")
            ] = 0,
            as_json: JsonOpt = False,
            admin_url: AdminUrlOpt = None,
            admin_token: AdminTokenOpt = None,
        ) -> None:
            """Make a new secret (printed once); the old one stops working at once or after --grace-secs."""
            go("rotate", ident, [f"grace_secs={grace_secs:g}"] if grace_secs else None, as_json, admin_url, admin_token)

    return group


for _name, _segment, _what in (
    ("keys", "api-keys", "virtual API keys"),
    ("tenants", "tenants", "tenants"),
    ("policies", "policies", "deny policies"),
    ("profiles", "gateway-configs", "gateway config profiles"),
):
    app.add_typer(_object_commands(_name, _segment, _what), name=_name)


@app.command()
def drain(
    undo: Annotated[bool, typer.Option("--undo", help="Put the node back in rotation.")] = False,
    wait: Annotated[float, typer.Option("--wait", help="Seconds to wait for the requests in flight to finish.")] = 0.0,
    admin_url: AdminUrlOpt = None,
    admin_token: AdminTokenOpt = None,
) -> None:
    """Take the node out of rotation (/readyz 503, connections still served); --wait for in-flight requests."""
    from ferrogate.control.drain_cli import drain_command

    raise typer.Exit(drain_command(admin_url, admin_token, undo=undo, wait_secs=wait))


store_app = typer.Typer(no_args_is_help=True, help="The embedded store (API keys, policies, spent budgets...).")
app.add_typer(store_app, name="store")


@store_app.command("backup")
def store_backup(
    file: Annotated[Path, typer.Argument(help="A new file for the copy.")], config: ConfigOpt = None
) -> None:
    """Copy the store to FILE (online: safe while the gateway runs)."""
    from ferrogate.store.commands import backup_command

    raise typer.Exit(backup_command(_config_path(config), file))


@store_app.command("check")
def store_check(config: ConfigOpt = None) -> None:
    """Check the store's integrity and that every object in it loads."""
    from ferrogate.store.commands import check_command

    raise typer.Exit(check_command(_config_path(config)))


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
