"""The console in a real browser: Debian's Chromium, driven by Playwright, against a real gateway process
and a real model service. Each page's screenshot is saved under a temporary directory (its path is printed);
the assertions are on what the pages show."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

from tests.helpers import SMOLLM2_NAME, free_port
from tests.live.gateway_process import ADMIN_KEY, LiveGateway, add_console_user, live_config, start_gateway

pytestmark = pytest.mark.timeout(240)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
USERS = {"ada": ("ada-admin-pass", "admin"), "vera": ("vera-viewer-pass", "viewer")}
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def console_gateway(tmp_path_factory: pytest.TempPathFactory, model_url: str) -> Iterator[LiveGateway]:
    directory = tmp_path_factory.mktemp("console-gateway")
    config = live_config(directory, model_url, free_port())  # the users go in before the gateway starts
    for name, (password, role) in USERS.items():
        add_console_user(config, name, password, role)
    gateway = start_gateway(directory, model_url)
    yield gateway
    gateway.process.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    expect.set_options(timeout=WAIT_MS)  # a model's answer on a busy machine takes more than 5 s
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 860},
        )
        yield context
        context.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("console-screenshots")
    print(f"console screenshots: {directory}")
    return directory


def _sign_in(page: Page, gateway: LiveGateway, name: str) -> None:
    page.goto(f"{gateway.base_url}/ui")
    expect(page.locator("#signin-form")).to_be_visible()
    page.fill("#signin-username", name)
    page.fill("#signin-password", USERS[name][0])
    page.click("#signin-submit")
    expect(page.locator("#whoami")).to_have_text(f"{name} ({USERS[name][1]})")


def test_operator_journey_in_a_real_browser(
    console_gateway: LiveGateway, browser: BrowserContext, shots: Path
) -> None:
    gateway = console_gateway
    page = browser.new_page()
    page.set_default_timeout(WAIT_MS)
    page.on("pageerror", lambda error: print("browser error:", error))
    page.goto(f"{gateway.base_url}/ui")
    expect(page.locator("#signin-form")).to_be_visible()
    page.screenshot(path=shots / "signin.png")

    # A wrong password is refused on the page.
    page.fill("#signin-username", "ada")
    page.fill("#signin-password", "not-her-password")
    page.click("#signin-submit")
    expect(page.locator("#signin-error")).to_have_text("Wrong user name or password.")

    _sign_in(page, gateway, "ada")
    # The live overview: the model's row, and updates arriving over /ws/metrics.
    row = page.locator(f'#ov-models tr[data-model="{SMOLLM2_NAME}"]')
    expect(row).to_contain_text("healthy")
    expect(page.locator("#ov-feed")).to_have_text("live")
    expect(page.locator("#ov-updates")).to_have_text(re.compile(r"^([3-9]|\d\d+)$"))
    before = int(row.locator(".requests-total").inner_text())
    page.screenshot(path=shots / "overview.png")

    # Create a key; its secret is shown once.
    page.click('#nav a[data-view="keys"]')
    page.fill("#key-name", "browser-key")
    page.click("#key-create")
    expect(page.locator("#key-secret-box")).to_be_visible()
    secret = page.locator("#key-secret").inner_text()
    assert secret.startswith("ctd_")
    expect(page.locator("#keys-table")).to_contain_text("browser-key")
    page.screenshot(path=shots / "keys.png")

    # Use it through /v1, as any client would.
    answer = httpx.post(
        f"{gateway.base_url}/v1/chat/completions",
        json={"model": SMOLLM2_NAME, "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 8},
        headers={"authorization": f"Bearer {secret}"},
        timeout=60,
    )
    assert answer.status_code == 200
    request_id = answer.headers["x-request-id"]

    # The overview counts it, live.
    page.click('#nav a[data-view="overview"]')
    expect(row.locator(".requests-total")).to_have_text(str(before + 1))

    # The request log shows it; opened, its details.
    page.click('#nav a[data-view="requests"]')
    entry = page.locator(f'#requests-table tr[data-request-id="{request_id}"]')
    for _ in range(50):
        if entry.count():
            break
        page.click('#requests-form button[type="submit"]')
        page.wait_for_timeout(200)
    expect(entry).to_contain_text("/v1/chat/completions")
    expect(entry).to_contain_text("http")
    entry.click()
    detail = page.locator("#request-detail")
    expect(detail).to_contain_text(request_id)
    expect(detail).to_contain_text("Bodies are not stored")
    page.screenshot(path=shots / "request-log.png")

    # Usage and spend for the range.
    page.click('#nav a[data-view="usage"]')
    expect(page.locator("#usage-table")).to_contain_text(secret[:12])
    expect(page.locator("#usage-chart-models svg rect").first).to_be_attached()
    page.screenshot(path=shots / "usage.png")

    # The playground streams an answer over /ws/chat, with the key just made.
    page.click('#nav a[data-view="playground"]')
    expect(page.locator("#play-key")).to_have_value(secret)
    page.click("#play-send")
    expect(page.locator("#play-state")).to_have_text(re.compile(r"^done \(request [0-9a-f]+\)$"))
    assert page.locator("#play-answer").inner_text().strip()
    page.screenshot(path=shots / "playground.png")

    # The running config, secrets masked; validation on; apply and roll back not yet.
    page.click('#nav a[data-view="config"]')
    config_text = page.locator("#config-text")
    expect(config_text).to_have_value(re.compile("admin_key: '\\*+'"))
    assert ADMIN_KEY not in config_text.input_value()
    expect(page.locator("#config-apply")).to_be_disabled()
    expect(page.locator("#config-rollback")).to_be_disabled()
    page.click("#config-validate")
    expect(page.locator("#config-result")).to_contain_text("Valid")
    page.screenshot(path=shots / "config.png")

    page.click("#signout")
    expect(page.locator("#signin-form")).to_be_visible()
    page.close()


def test_a_viewer_is_refused_a_write(
    console_gateway: LiveGateway, browser: BrowserContext, shots: Path
) -> None:
    page = browser.new_page()
    page.set_default_timeout(WAIT_MS)
    _sign_in(page, console_gateway, "vera")
    page.click('#nav a[data-view="keys"]')
    page.fill("#key-name", "viewer-key")
    page.click("#key-create")
    expect(page.locator("#keys-error")).to_have_text("This needs the operator role; vera is viewer.")
    expect(page.locator("#key-secret-box")).to_be_hidden()
    expect(page.locator("#keys-table")).not_to_contain_text("viewer-key")
    expect(page.locator('#nav a[data-view="users"]')).to_be_hidden()
    page.screenshot(path=shots / "viewer-refused.png")
    page.close()
