"""An administrator in Debian's Chromium: export the whole instance, restore it; a user
sees neither."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.browser import Tab, chromium
from tests.support import LiveServer

PASSWORD = "correct horse battery"


def _user(config: Path, data: Path, name: str, *flags: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "causerie", "users", "create", name, *flags, "--password-stdin",
         "--config", str(config), "--data-dir", str(data)],
        input=PASSWORD + "\n", text=True, check=True, capture_output=True,
    )  # fmt: skip


def _sign_in(tab: Tab, name: str) -> None:
    page = tab.page
    page.goto(tab.server.url)
    page.fill("#login-name", name)
    page.fill("#login-password", PASSWORD)
    page.click("#login button[type=submit]")
    page.wait_for_selector("body[data-ready]")
    page.click("#open-prefs")
    page.locator("#account-name").filter(has_text=name).wait_for()


def test_an_admin_exports_and_restores_the_instance_from_settings(tmp_path: Path) -> None:
    config = tmp_path / "causerie.toml"
    config.write_text("models = []\n")  # no model: the page needs none for this
    data = tmp_path / "data"
    _user(config, data, "root", "--admin")
    _user(config, data, "alice")
    with LiveServer(config, data) as server, chromium() as browser:
        alice = Tab(browser, server)
        _sign_in(alice, "alice")
        assert alice.page.locator("#export-instance").is_hidden()
        assert alice.page.locator("#import-instance").is_disabled()
        alice.close()

        admin = Tab(browser, server)
        _sign_in(admin, "root")
        page = admin.page
        with page.expect_download() as download:
            page.click("#export-instance")
        saved = tmp_path / "instance.zip"
        download.value.save_as(saved)
        archive = zipfile.ZipFile(saved)
        assert json.loads(archive.read("manifest.json"))["scope"] == "instance"
        names = {json.loads(u)["name"] for u in archive.read("users.jsonl").splitlines()}
        assert names == {"local", "root", "alice"}

        page.select_option("#import-kind", "instance")
        page.set_input_files("#import-file", str(saved))
        status = page.locator("#import-status")
        status.filter(has_text="new conversations: 0").wait_for(timeout=30_000)
        assert "failed" not in status.inner_text()
        assert not admin.errors, admin.errors
