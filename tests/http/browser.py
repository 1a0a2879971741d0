"""A headless Chromium driven through WebDriver (selenium), for the pages' browser tests.

Debian's `chromium` and `chromium-driver` are installed by `deploy.local.debian` when missing;
Selenium is given both paths (and SE_OFFLINE), so nothing downloads a browser or a driver.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

from deploy.local import debian

WINDOW = (1000, 1400)
PHONE = (390, 844)
PAGE_LOAD_TIMEOUT_SECONDS = 60
SCREENSHOT_COLOURS = 64


@contextmanager
def chromium(language: str = "en-GB,en") -> Iterator[webdriver.Chrome]:
    browser = debian.ensure("chromium")
    driver = debian.ensure("chromedriver")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never go online
    options = Options()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--hide-scrollbars", "--force-device-scale-factor=1",
                     f"--window-size={WINDOW[0]},{WINDOW[1]}"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": language})
    session = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    session.set_page_load_timeout(PAGE_LOAD_TIMEOUT_SECONDS)
    try:
        yield session
    finally:
        session.quit()


def full_page_screenshot(session: webdriver.Chrome, path: str, width: int) -> None:
    """The whole page at `width` CSS pixels, as a small PNG (64 colours): the window is
    resized to the page's height, then restored."""
    from PIL import Image  # fpdf2's dependency; only needed when writing screenshots

    session.set_window_size(width, WINDOW[1])
    height = int(session.execute_script(
        "return Math.ceil(document.documentElement.scrollHeight)"))
    session.set_window_size(width, height)
    picture = Image.open(io.BytesIO(session.get_screenshot_as_png())).convert("RGB")
    picture.quantize(colors=SCREENSHOT_COLOURS).save(path, optimize=True)
    session.set_window_size(*WINDOW)
