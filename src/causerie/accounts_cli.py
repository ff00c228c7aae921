"""`causerie users`: create, list, disable and enable accounts; the safe-start check."""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from causerie.errors import CauserieError
from causerie.services.auth import AuthService
from causerie.settings import Settings
from causerie.store.db import Database, make_engine


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name may resolve to anything: treat it as exposed


def refusal(settings: Settings) -> str | None:
    """Why `serve` must not start (exposed without accounts), or None."""
    if is_loopback(settings.host):
        return None
    db = Database(make_engine(settings.db_url))
    try:
        db.prepare()
        if AuthService(db).accounts_exist():
            return None
    finally:
        db.engine.dispose()
    return (
        f"refusing to listen on {settings.host}: no user accounts exist, so anyone who can "
        "reach it could use it; create one with `causerie users create --admin NAME` "
        "or listen on 127.0.0.1"
    )


@contextmanager
def _auth(config: Path | None, data_dir: Path | None) -> Iterator[AuthService]:
    """The accounts of the configured database; its errors become the CLI's messages."""
    from causerie.cli import _settings  # the CLI's error reporting for bad configuration

    settings = _settings(config, data_dir=data_dir)
    db = Database(make_engine(settings.db_url))
    try:
        db.prepare()
        yield AuthService(db, settings.session_hours)
    except CauserieError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        db.engine.dispose()


def _common(f):  # type: ignore[no-untyped-def]
    f = click.option(
        "--config", "config", type=click.Path(path_type=Path), help="TOML settings file."
    )(f)
    return click.option("--data-dir", type=click.Path(path_type=Path), help="Database dir.")(f)


@click.group()
def users() -> None:
    """Manage user accounts (once one exists, the API and UI need a login or a key)."""


@users.command("create")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Make the user an administrator.")
@click.option("--email", help="Email address (can log in with it too).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option(
    "--claim-local",
    is_flag=True,
    help="Take over the single-user mode's data (the first --admin always does).",
)
@_common
def create(
    name: str,
    admin: bool,
    email: str | None,
    password_stdin: bool,
    claim_local: bool,
    config: Path | None,
    data_dir: Path | None,
) -> None:
    """Create a user; the password is asked for (or read from stdin)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _auth(config, data_dir) as auth:
        user = auth.create_user(
            name,
            password,
            role="admin" if admin else "user",
            email=email,
            claim_local_data=claim_local,
        )
    click.echo(f"created {user['role']} {user['name']} ({user['id']})")
    if claimed := user["claimed"]:
        click.echo(
            f"{user['name']} took over the data made before accounts: "
            + ", ".join(f"{n} {kind[:-1]}(s)" for kind, n in claimed.items())
        )


@users.command("list")
@_common
def list_users(config: Path | None, data_dir: Path | None) -> None:
    """One line per user: name, role, state, email."""
    with _auth(config, data_dir) as auth:
        rows = auth.list_users()
    if not rows:
        click.echo("no users (single-user mode on 127.0.0.1)", err=True)
    for u in rows:
        state = "disabled" if u["disabled"] else "active"
        click.echo(f"{u['name']}\t{u['role']}\t{state}\t{u['email'] or ''}")


def _set_disabled(name: str, disabled: bool, config: Path | None, data_dir: Path | None) -> None:
    with _auth(config, data_dir) as auth:
        user = auth.find_user(name)
        auth.update_user(user["id"], {"disabled": disabled})
    click.echo(f"{'disabled' if disabled else 'enabled'} {name}")


@users.command("disable")
@click.argument("name")
@_common
def disable(name: str, config: Path | None, data_dir: Path | None) -> None:
    """Disable a user: their keys and sessions stop working at once."""
    _set_disabled(name, True, config, data_dir)


@users.command("enable")
@click.argument("name")
@_common
def enable(name: str, config: Path | None, data_dir: Path | None) -> None:
    """Enable a disabled user again."""
    _set_disabled(name, False, config, data_dir)


def _password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("New password", hide_input=True, confirmation_prompt=True)


@users.command("reset-password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@_common
def reset_password(
    name: str, password_stdin: bool, config: Path | None, data_dir: Path | None
) -> None:
    """Set a user's password (asked for, or read from stdin)."""
    password = _password(password_stdin)
    with _auth(config, data_dir) as auth:
        auth.update_user(auth.find_user(name)["id"], {"password": password})
    click.echo(f"password of {name} changed")


@users.command("unlock")
@click.argument("name")
@_common
def unlock_user(name: str, config: Path | None, data_dir: Path | None) -> None:
    """Lift a lockout after too many failed sign-ins (the account's, not an address's)."""
    from causerie.services.logins import unlock

    with _auth(config, data_dir) as auth:
        user = auth.find_user(name)
        # Failures count under the account (login_subject); by name or email before that.
        subjects = [auth.login_subject(user["name"]), user["name"], user["email"] or ""]
        forgotten = unlock(auth.db, subjects)
    click.echo(f"unlocked {name} ({forgotten} failed sign-in(s) forgotten)")


class _Limit(click.ParamType):
    """A limit on the command line: a whole number from `minimum`, or "none" (unlimited)."""

    name = "N|none"

    def __init__(self, minimum: int):
        self.minimum = minimum

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        if value is None or isinstance(value, int):
            return value
        if str(value).strip().lower() == "none":
            return None
        try:
            number = int(value)
        except ValueError:
            self.fail(f"{value!r} is not a whole number or 'none'", param, ctx)
        if number < self.minimum:
            self.fail(f"{number} is below {self.minimum}", param, ctx)
        return number


# The same limits, with the same bounds, as PATCH /api/admin/users/{id}.
LIMITS = {"requests_per_minute": 1, "tokens_per_day": 1, "web_searches_per_day": 0}


@users.command("limits")
@click.argument("name")
@click.option("--requests-per-minute", type=_Limit(1), help="Requests a minute, or none.")
@click.option("--tokens-per-day", type=_Limit(1), help="Tokens a day (UTC), or none.")
@click.option("--web-searches-per-day", type=_Limit(0), help="Web searches a day (UTC), or none.")
@_common
def limits(name: str, config: Path | None, data_dir: Path | None, **asked: int | None) -> None:
    """Show a user's limits, or set those given ("none" lifts one)."""
    ctx = click.get_current_context()
    given = {
        field
        for field in LIMITS
        if ctx.get_parameter_source(field) is not click.core.ParameterSource.DEFAULT
    }
    with _auth(config, data_dir) as auth:
        user = auth.find_user(name)
        if given:
            user = auth.update_user(user["id"], {f: asked[f] for f in given})
    shown = (f"{f}={'none' if user[f] is None else user[f]}" for f in LIMITS)
    click.echo(f"{name}: " + " ".join(shown))
