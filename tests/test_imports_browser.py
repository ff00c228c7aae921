"""Settings → Import and export in Debian's Chromium: upload a ChatGPT ZIP, see the job's
summary and the conversations, download the export, stop an import; French strings."""

from __future__ import annotations

import zipfile
from pathlib import Path

from bench.imports.__main__ import build

from tests.browser import chromium
from tests.imports_support import dumps, full_export, write_zip
from tests.support import LiveServer, smol_model, write_config


def test_import_a_chatgpt_zip_and_export_from_settings(tmp_path: Path) -> None:
    export = write_zip(tmp_path / "chatgpt.zip", {"conversations.json": dumps(full_export())})
    big = tmp_path / "big.zip"
    build(big, 3000, 4, shards=4)
    config = write_config(tmp_path / "causerie.toml", [smol_model()])
    with LiveServer(config, tmp_path / "data") as server, chromium() as browser:
        tab = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.goto(server.url + "/")
        tab.wait_for_selector("body[data-ready='1']")
        tab.click("#open-prefs")
        tab.select_option("#import-kind", "chatgpt")
        tab.set_input_files("#import-file", str(export))
        status = tab.locator("#import-status")
        status.filter(has_text="new conversations: 9").wait_for(timeout=30_000)
        assert "messages: 23" in status.inner_text()
        assert "skipped: 1 (no messages (a project or folder entry))" in status.inner_text()
        assert tab.locator("#import-progress").evaluate("p => p.value") == 1
        with tab.expect_download() as download:
            tab.click("#export-link")
        saved = tmp_path / "mine.zip"
        download.value.save_as(saved)
        assert "collections.jsonl" in zipfile.ZipFile(saved).namelist()

        tab.select_option("#pref-lang", "fr")
        assert tab.locator(".import-export legend").inner_text() == "Importer et exporter"
        assert tab.locator("#export-link").inner_text() == "Exporter mes données"
        tab.click("#prefs button[type=submit]")
        tab.get_by_text("Edited question").first.wait_for(timeout=10_000)

        tab.click("#open-prefs")  # last: its conversations come first in the sidebar
        tab.set_input_files("#import-file", str(big))  # long enough to stop it
        tab.click("#import-cancel")
        status.filter(has_text="ce qui a été importé est gardé").wait_for(timeout=30_000)
        assert tab.locator("#import-cancel").is_hidden()
        assert not errors, errors
