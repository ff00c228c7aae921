"""`causerie users` and the refusal to serve an exposed address without accounts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from causerie.accounts_cli import is_loopback, refusal
from causerie.cli import main
from tests.support import free_port, smol_model, smol_settings, write_config


def _causerie(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "causerie", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_exposed_address_without_accounts_is_refused_with_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", [smol_model()])
    data = tmp_path / "data"
    run = _causerie(
        "serve", "--host", "0.0.0.0", "--port", str(free_port()), "--config", str(config),
        "--data-dir", str(data),
    )  # fmt: skip
    assert run.returncode == 1
    message = run.stderr.strip()
    assert message.count("\n") == 0, message
    assert "refusing to listen on 0.0.0.0" in message and "causerie users create" in message

    made = _causerie(
        "users", "create", "--admin", "root", "--password-stdin", "--data-dir", str(data),
        stdin="s3cret-password\n",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "created admin root" in made.stdout
    assert refusal(smol_settings(data, host="0.0.0.0")) is None


def test_users_list_disable_enable_and_errors(tmp_path: Path) -> None:
    data = str(tmp_path)
    assert "no users" in _causerie("users", "list", "--data-dir", data).stderr
    for name in ("ann", "ben"):
        run = _causerie(
            "users", "create", name, "--password-stdin", "--data-dir", data, stdin="password-1\n"
        )
        assert run.returncode == 0, run.stderr
    again = _causerie(
        "users", "create", "ann", "--password-stdin", "--data-dir", data, stdin="password-1\n"
    )
    assert again.returncode == 1 and "already exists" in again.stderr
    short = _causerie(
        "users", "create", "cy", "--password-stdin", "--data-dir", data, stdin="short\n"
    )
    assert short.returncode == 1 and "at least 8" in short.stderr
    assert _causerie("users", "disable", "ben", "--data-dir", data).returncode == 0
    rows = _causerie("users", "list", "--data-dir", data).stdout.splitlines()
    assert rows == ["ann\tuser\tactive\t", "ben\tuser\tdisabled\t"]
    assert _causerie("users", "enable", "ben", "--data-dir", data).returncode == 0
    missing = _causerie("users", "disable", "nobody", "--data-dir", data)
    assert missing.returncode == 1 and "No user named 'nobody'" in missing.stderr


def test_users_limits_shows_sets_and_lifts_a_users_limits(tmp_path: Path) -> None:
    """In-process (click's runner): each subprocess costs seconds of imports."""
    cli = CliRunner()
    data = ["--data-dir", str(tmp_path)]
    made = cli.invoke(main, ["users", "create", "ann", "--password-stdin", *data], "password-1\n")
    assert made.exit_code == 0, made.output
    run = cli.invoke(
        main,
        ["users", "limits", "ann", "--web-searches-per-day", "5", "--tokens-per-day", "900", *data],
    )
    assert run.exit_code == 0, run.output
    assert run.output == "ann: requests_per_minute=none tokens_per_day=900 web_searches_per_day=5\n"
    lifted = cli.invoke(main, ["users", "limits", "ann", "--tokens-per-day", "none", *data])
    assert "tokens_per_day=none web_searches_per_day=5" in lifted.output
    bad = cli.invoke(main, ["users", "limits", "ann", "--requests-per-minute", "0", *data])
    assert bad.exit_code == 2 and "0 is below 1" in bad.output
    missing = cli.invoke(main, ["users", "limits", "bob", *data])
    assert missing.exit_code == 1 and "No user named 'bob'" in missing.output


def test_loopback_detection() -> None:
    for host in ("127.0.0.1", "127.0.0.53", "::1", "[::1]", "localhost"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "192.168.1.2", "example.org", "10.0.0.1"):
        assert not is_loopback(host), host
