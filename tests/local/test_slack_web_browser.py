"""The local Slack page in a real headless browser (Debian's chromium and chromedriver, driven by selenium): the
approval message request_approval builds shows with its buttons, a click reaches the injected handler, and the
message the handler updates through chat.update shows the decision on the next poll.

Without chromium and chromedriver this test skips locally; in CI (``CI`` set) it fails, since .ci/run installs
them (``apt-get install chromium chromium-driver``).
"""

from __future__ import annotations

import threading

import pytest

from local.fake_slack import FakeSlack
from local.slack_web import ClickResult, SlackWeb
from tests.browser import skip_or_fail
from tests.local.slack_samples import ALICE, APPROVAL_ID, CHANNEL, client, close_approval, post_approval

pytestmark = pytest.mark.slow

BOB = "U0BOB0002"
WAIT_SECONDS = 20  # a ceiling for the page to catch up, not a measured figure


def test_without_the_browser_the_test_skips_locally_but_fails_in_ci() -> None:
    with pytest.raises(pytest.skip.Exception, match="chromium is not installed"):
        skip_or_fail("chromium is not installed", {})
    with pytest.raises(pytest.fail.Exception, match="CI must run the browser test"):
        skip_or_fail("chromium is not installed", {"CI": "true"})


def test_a_click_on_approve_reaches_the_handler_and_the_page_shows_the_decision(browser: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.wait import WebDriverWait

    driver: WebDriver = browser  # type: ignore[assignment]
    clicks: list[dict[str, str]] = []
    clicked = threading.Event()

    with FakeSlack(channels=[CHANNEL]) as slack:

        def click(*, action_id: str, value: str, message_ts: str, channel: str, user_id: str) -> ClickResult:
            clicks.append(
                {"action_id": action_id, "value": value, "message_ts": message_ts, "channel": channel, "user": user_id}
            )
            close_approval(slack, message_ts, user_id)  # what slack_interactions does after recording the decision
            clicked.set()
            return ClickResult(ok=True, text="Approved: the run goes on to production.")

        parent = slack.post(CHANNEL, "Pipeline started for `abc1234`")
        ts = post_approval(slack, thread_ts=parent)
        # Escaped as Slack's API wants it; the page must show it as the characters it stands for.
        hostile = "&lt;img src=x onerror=\"document.title='injected'\"&gt; &lt;b&gt;not bold&lt;/b&gt;"
        client(slack).chat_postMessage(channel=CHANNEL, text=hostile)

        with SlackWeb(slack, CHANNEL, click, people={BOB: "bob", ALICE: "alice"}, channel_name="mlops") as web:
            driver.get(web.url)
            wait = WebDriverWait(driver, WAIT_SECONDS)
            approve = wait.until(
                expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, "button[data-action-id=approve]"))
            )
            page = driver.find_element(By.TAG_NAME, "main").text
            assert "Production approval: delivery-time v7" in page
            assert "Alice <Example> & co" in page  # escaped by the builder, shown as written
            reject = driver.find_element(By.CSS_SELECTOR, "button[data-action-id=reject]")
            assert "primary" in approve.get_attribute("class") and "danger" in reject.get_attribute("class")
            # Message text is shown as text: no element comes out of it, nothing runs.
            assert "<img src=x onerror=\"document.title='injected'\"> <b>not bold</b>" in page
            assert driver.find_elements(By.CSS_SELECTOR, "main img") == []
            assert "not bold" not in [element.text for element in driver.find_elements(By.CSS_SELECTOR, "main b")]
            assert driver.title != "injected"

            Select(driver.find_element(By.ID, "person")).select_by_value(ALICE)
            approve.click()
            assert clicked.wait(WAIT_SECONDS), "the click did not reach the handler"
            wait.until(expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "main"), "Approved by @alice"))
            wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "result"), "the run goes on"))
            assert driver.find_elements(By.CSS_SELECTOR, "button[data-action-id]") == []

    assert clicks == [
        {"action_id": "approve", "value": APPROVAL_ID, "message_ts": ts, "channel": CHANNEL, "user": ALICE}
    ]
