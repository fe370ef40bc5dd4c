"""Drives Axon's web view in headless Chromium: switches an endpoint off by clicking its
switch, waits for the page to show it OFF, and keeps a screenshot.

    web_view.py <page url> <endpoint name> <other endpoint name> <screenshot path>

With AXON_WEB_TOKEN set, the page must first ask for the management token, which is then
typed into it. Prints the final state the page shows. Fails on any browser console error (a
CSP violation is one) other than the 401 that makes the page ask for the token."""
import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

url, name, other, shot = sys.argv[1:5]

options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
            "--window-size=1366,800", "--disable-gpu"):
    options.add_argument(arg)
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
try:
    wait = WebDriverWait(driver, 20)
    card = f'details[data-actor="{name}"]'
    driver.get(url)
    token = os.environ.get("AXON_WEB_TOKEN")
    if token:
        wait.until(ec.visibility_of_element_located((By.ID, "token"))).send_keys(token)
        driver.find_element(By.CSS_SELECTOR, "#login button").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, card + '[data-state="ACTIVE"]')))

    # The filter box hides what does not match, and shows it again when cleared.
    box = driver.find_element(By.ID, "filter")
    box.send_keys(name)
    wait.until(ec.invisibility_of_element_located((By.CSS_SELECTOR, f'details[data-actor="{other}"]')))
    assert driver.find_element(By.CSS_SELECTOR, card).is_displayed(), "the filter hid its match"
    box.clear()
    box.send_keys(" ")
    wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, f'details[data-actor="{other}"]')))

    driver.find_element(By.CSS_SELECTOR, f'button[data-switch="{name}"]').click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, card + '[data-state="OFF"]')))
    button = driver.find_element(By.CSS_SELECTOR, f'button[data-switch="{name}"]')
    assert button.get_attribute("aria-pressed") == "false", "the switch does not show off"
    badge = driver.find_element(By.CSS_SELECTOR, card + " > summary .badge").text
    # Open the switched endpoint and the failing one, so the picture shows their details.
    for actor in (name, other):
        driver.execute_script(
            "document.querySelector(arguments[0]).open = true", f'details[data-actor="{actor}"]')
    driver.save_screenshot(shot)

    if token:
        kept = driver.execute_script("return sessionStorage.getItem('axon-management-token')")
        assert kept == token, "the token is not kept in sessionStorage"
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"
              and not (token and "status of 401" in e["message"])]
    assert not errors, f"browser console errors: {errors}"
    print(badge)
finally:
    driver.quit()
