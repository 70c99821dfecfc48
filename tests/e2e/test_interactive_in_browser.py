"""``make demo ARGS=--interactive`` as a person uses it: the whole local pipeline runs, the Slack channel is a
page in a real headless browser, the person clicks Approve there, and the run goes on to prod and finishes."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

PAGE_LINE = re.compile(r"The Slack channel, with working buttons: (?P<url>http://127\.0\.0\.1:\d+/\S*)")
# Ceilings for a loaded 2-core machine, not measured figures (bench/pipeline.py measures).
START_SECONDS = 120
RUN_SECONDS = 240


def read_lines(stream: object, lines: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        lines.put(line)


def test_a_person_approves_in_the_browser_and_the_run_reaches_prod(browser: object, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    driver: WebDriver = browser  # type: ignore[assignment]
    command = [sys.executable, "-m", "local.pipeline", "--interactive", "--workdir", str(tmp_path / "pipeline")]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=read_lines, args=(process.stdout, lines), daemon=True).start()
    output: list[str] = []
    try:
        url = None
        while url is None:
            line = lines.get(timeout=START_SECONDS)
            output.append(line)
            match = PAGE_LINE.search(line)
            url = match["url"] if match else None

        driver.get(url)
        # The approval message arrives once the build, the stage deploy and the staging alias are done.
        approve = WebDriverWait(driver, RUN_SECONDS).until(
            expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, "button[data-action-id=approve]"))
        )
        assert "Production approval" in driver.find_element(By.TAG_NAME, "main").text
        approve.click()
        # The decision replaces the buttons at once; the run then goes on to prod, and the command ends (the
        # page's server with it, so the end of the run is read from the command's output).
        WebDriverWait(driver, RUN_SECONDS).until(
            expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "main"), "Approved by @you")
        )
        assert driver.find_elements(By.CSS_SELECTOR, "button[data-action-id]") == []
        assert process.wait(timeout=RUN_SECONDS) == 0
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)
        while not lines.empty():
            output.append(lines.get())
    text = "".join(output)
    assert "✓ Approval" in text and "✓ DeployProd" in text and "SUCCEEDED" in text, text
    assert "MLflow aliases  production -> version 1, staging -> version 1" in text, text
