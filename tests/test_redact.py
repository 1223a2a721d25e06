"""The one secret scrubber (``reports.redact``): one placeholder, one token shape, secrets registered once.

Each test registers values of its own: the registry lasts as long as the process, like the settings' secrets.
"""

from __future__ import annotations

import io
import json
import logging

import pytest

from reports.delivery.calls import Stop
from reports.errors import ReportError
from reports.logs import setup_logging
from reports.redact import MASK, MIN_SECRET, redact_text, redact_url, register
from reports.settings import Secret, Settings

SHAPED = "7000000099:AAHshapeTOKENshapeTOKENshapeTOKEN99"  # never registered anywhere


def test_the_placeholder_is_three_stars() -> None:
    assert MASK == "***"


def test_a_token_shaped_string_is_masked_in_free_text_without_being_registered() -> None:
    assert redact_text(f"getMe failed for {SHAPED}, giving up") == "getMe failed for ***, giving up"
    assert redact_text(f"({SHAPED})") == "(***)"
    assert redact_text(f"token={SHAPED}\n") == "token=***\n"


def test_a_token_shaped_string_is_masked_in_a_bot_api_path() -> None:
    # No word boundary between "bot" and the bot's id: the path of every Bot API call.
    assert redact_text(f"POST https://api.telegram.org/bot{SHAPED}/getMe") == (
        "POST https://api.telegram.org/bot***/getMe"
    )
    assert redact_text(f"/file/bot{SHAPED}/photos/1.jpg") == "/file/bot***/photos/1.jpg"


def test_what_is_not_token_shaped_is_left_alone() -> None:
    for text in (
        "1234:" + "A" * 40,  # a bot id has five digits or more
        "1234567:" + "A" * 20,  # and the secret part thirty characters or more
        "at 2025-11-21 00:05:01 the job ran 12345 fills",
        "sha256:" + "a" * 64,
    ):
        assert redact_text(text) == text


def test_a_registered_secret_is_masked_wherever_it_appears() -> None:
    register("adm-Zq8-registered-secret")
    assert redact_text("Bearer adm-Zq8-registered-secret rejected") == "Bearer *** rejected"
    assert redact_text("'adm-Zq8-registered-secret'x2: adm-Zq8-registered-secret") == "'***'x2: ***"
    assert redact_text("nothing secret here") == "nothing secret here"


def test_the_longest_registered_secret_is_masked_first() -> None:
    register("pw-Kd3", "pw-Kd3-and-more")  # one contains the other
    assert redact_text("a pw-Kd3-and-more b pw-Kd3 c") == "a *** b *** c"


def test_too_short_secrets_and_none_are_ignored() -> None:
    register("Qz", "q9x", None, "")  # below MIN_SECRET: they would mask ordinary words in every line
    assert MIN_SECRET == 4
    assert redact_text("Qz q9x Qzq9x") == "Qz q9x Qzq9x"
    register("Qz9w")
    assert redact_text("Qz9w Qz") == "*** Qz"


def test_settings_register_their_secrets_when_they_are_made() -> None:
    Settings(
        admin_api_token=Secret("adm-Wf5-settings-token"),
        prometheus_url="http://user:prom-Vb7-pass@prometheus:9090",
    )
    # Without their URL around them, and in a line that no one scrubbed on purpose.
    assert redact_text("rejected adm-Wf5-settings-token; nonnumeric port 'prom-Vb7-pass@prometheus'") == (
        "rejected ***; nonnumeric port '***@prometheus'"
    )


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("at http://admin:hunter2@127.0.0.1:9/api now", "at http://***@127.0.0.1:9/api now"),
        ("at https://tok-only@h:1/x", "at https://***@h:1/x"),
        ("GET http://h/q?query=up&api_key=k1k1&n=2 failed", "GET http://h/q?query=up&api_key=***&n=2 failed"),
        ("'http://h/p?X-Amz-Signature=abc#frag'", "'http://h/p?X-Amz-Signature=***#frag'"),
        ('<a href="http://u:p@h/">', '<a href="http://***@h/">'),
        ("http://h/p?page=2&sort=asc", "http://h/p?page=2&sort=asc"),
    ],
)
def test_url_userinfo_and_secret_query_values_are_masked(line: str, shown: str) -> None:
    assert redact_text(line) == shown


def test_redact_url_keeps_what_is_not_a_credential() -> None:
    url = "https://user:pw@prometheus.example:9090/api/v1/query?query=up&token=t0k#top"
    assert redact_url(url) == "https://***@prometheus.example:9090/api/v1/query?query=up&token=***#top"
    assert redact_url("not a url") == "not a url"


@pytest.mark.parametrize(
    "text",
    [
        f"GET https://u:p@api.telegram.org/bot{SHAPED}/getMe?token=x&limit=5 failed: {SHAPED}",
        "adm-Zq8-registered-secret in http://adm-Zq8-registered-secret@h/",
        "plain text, nothing to hide",
        "already masked: http://***@h/p?key=*** and ***",
    ],
)
def test_redacting_twice_changes_nothing_more(text: str) -> None:
    register("adm-Zq8-registered-secret")
    once = redact_text(text)
    assert redact_text(once) == once


def test_errors_stops_and_logs_use_the_same_scrubber_and_placeholder() -> None:
    register("adm-Hj2-everywhere")
    line = f"token {SHAPED}, admin adm-Hj2-everywhere, url http://u:pw@h:1/"
    want = "token ***, admin ***, url http://***@h:1/"
    assert str(ReportError(line)) == want
    assert Stop(line).message == want
    stream, root = io.StringIO(), logging.getLogger()
    # setup_logging sets levels (the root's, the libraries'): put them back for the tests that follow.
    levels = {name: logging.getLogger(name).level for name in ("", *logging.root.manager.loggerDict)}
    handler = setup_logging(fmt="json", verbose=True, stream=stream)
    try:
        logging.getLogger("some.library").debug("%s", line)
    finally:
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    assert json.loads(stream.getvalue())["message"] == want
