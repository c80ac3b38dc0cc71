"""The demo page `make run` serves, in headless Chromium: PKCE sign-in, my grants, browse, download, upload,
and the refusals a person sees (outside my grant, an expired link)."""

from __future__ import annotations

import os

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.apps.stack import DevStack, sign_in_at_hosted_ui

pytestmark = pytest.mark.browser


def signed_in(page: Page, dev_stack: DevStack, username: str) -> None:
    page.goto(dev_stack.demo_url)
    page.click("#sign-in")
    sign_in_at_hosted_ui(page, username, dev_stack.password(username))
    expect(page.locator("#username")).to_have_text(username)
    page.wait_for_selector("ul#grants button.grant")


def open_location(page: Page, uri: str) -> None:
    page.fill("#location", uri)
    page.click("#goto button[type=submit]")


def test_demo_page_signs_in_with_pkce_and_shows_only_my_grants(page: Page, dev_stack: DevStack) -> None:
    signed_in(page, dev_stack, "alice")

    shown = set(page.locator("ul#grants button.grant").all_inner_texts())
    answer = httpx.get(
        f"{dev_stack.broker_url}/v1/grants",
        headers={"Authorization": f"Bearer {dev_stack.id_token('alice')}"},
        timeout=30,
    )
    assert shown == {g["grant_scope"] for g in answer.json()["grants"]}
    assert "s3://demo-data/users/alice/*" in shown
    assert not [scope for scope in shown if "bob" in scope]
    assert page.evaluate("window.location.search") == "", "the authorization code stays in the URL"


def test_demo_page_browses_a_grant_and_downloads_the_exact_bytes(page: Page, dev_stack: DevStack) -> None:
    signed_in(page, dev_stack, "alice")
    page.click("text=s3://demo-data/users/alice/*")
    row = page.locator("tr.file[data-key='users/alice/notes.txt']")

    with page.expect_download() as download:
        row.locator("button.download").click()

    expected = dev_stack.admin_s3().get_object(Bucket="demo-data", Key="users/alice/notes.txt")["Body"].read()
    assert download.value.suggested_filename == "notes.txt"
    assert download.value.path().read_bytes() == expected
    expect(page.locator("button.folder")).to_have_text(["reports/"])
    expect(page.locator("#notice")).to_contain_text("Downloaded notes.txt")


def test_demo_page_uploads_through_a_presigned_post_with_progress(page: Page, dev_stack: DevStack) -> None:
    content = os.urandom(512 * 1024)
    signed_in(page, dev_stack, "alice")
    page.click("text=s3://demo-data/users/alice/*")
    page.wait_for_selector("tr.file")

    page.set_input_files(
        "#file", files=[{"name": "from-demo.bin", "mimeType": "application/octet-stream", "buffer": content}]
    )
    page.click("#upload button[type=submit]")

    expect(page.locator("#notice")).to_contain_text("Uploaded from-demo.bin")
    expect(page.locator("#progress")).to_have_attribute("value", "100")
    expect(page.locator("tr.file[data-key='users/alice/from-demo.bin']")).to_be_visible()
    stored = dev_stack.admin_s3().get_object(Bucket="demo-data", Key="users/alice/from-demo.bin")
    assert stored["Body"].read() == content


def test_demo_page_offers_no_upload_on_a_read_only_grant(page: Page, dev_stack: DevStack) -> None:
    signed_in(page, dev_stack, "alice")

    page.click("text=s3://demo-data/shared/engineering/*")

    expect(page.locator("tr.file[data-key='shared/engineering/design.md']")).to_be_visible()
    expect(page.locator("#upload")).to_be_hidden()


def test_demo_page_refuses_a_prefix_outside_my_grant(page: Page, dev_stack: DevStack) -> None:
    signed_in(page, dev_stack, "alice")

    open_location(page, "s3://demo-data/users/bob/")

    expect(page.locator("#error")).to_contain_text(
        "Refused: you have no grant for listing s3://demo-data/users/bob/"
    )
    expect(page.locator("#error")).to_contain_text("access_denied")
    expect(page.locator("#listing")).to_be_hidden()


def test_demo_page_says_the_link_expired_when_s3_refuses_it(page: Page, dev_stack: DevStack) -> None:
    signed_in(page, dev_stack, "alice")
    page.click("text=s3://demo-data/users/alice/*")
    row = page.locator("tr.file[data-key='users/alice/notes.txt']")
    expect(row).to_be_visible()

    # Two hours later at S3: the broker's 15-minute URL (and the credentials that signed it) have expired.
    dev_stack.move_clock(7200)
    try:
        row.locator("button.download").click()
        expect(page.locator("#error")).to_contain_text("has expired")
    finally:
        dev_stack.move_clock(0)
    expect(page.locator("#error")).to_contain_text("Try again for a fresh one")
