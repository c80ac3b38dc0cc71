"""AWS's Storage Browser for S3 (examples/storage-browser, built with npm) against the broker and the
emulator, in headless Chromium: sign in, my locations only, download, upload, refusal outside my grant."""

from __future__ import annotations

import json
import os

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.apps.stack import DevStack, sign_in_at_hosted_ui

pytestmark = pytest.mark.browser


def signed_in(page: Page, url: str, dev_stack: DevStack, username: str) -> None:
    page.goto(url)
    page.get_by_role("button", name="Sign in").click()
    sign_in_at_hosted_ui(page, username, dev_stack.password(username))
    expect(page.locator("#username")).to_have_text(username)


def open_location(page: Page, folder: str) -> None:
    page.get_by_role("button", name=folder, exact=True).click()


def test_storage_browser_lists_only_my_locations(
    page: Page, storage_browser_url: str, dev_stack: DevStack
) -> None:
    signed_in(page, storage_browser_url, dev_stack, "bob")
    rows = page.locator("table tbody tr")
    expect(rows.first).to_be_visible()

    shown = {tuple(row.locator("td").all_inner_texts()[:2]) for row in rows.all()}

    answer = httpx.get(
        f"{dev_stack.broker_url}/v1/grants",
        headers={"Authorization": f"Bearer {dev_stack.id_token('bob')}"},
        timeout=30,
    )
    # Folder-like grants become locations (`s3://bucket/prefix/*`): (folder, bucket) as the table shows them.
    expected = {
        (scope[5:].split("/", 1)[1][:-1], scope[5:].split("/", 1)[0])
        for scope in (g["grant_scope"] for g in answer.json()["grants"])
        if scope.endswith("/*")
    }
    assert shown == expected
    assert ("users/bob/", "demo-data") in shown
    assert not [folder for folder, _ in shown if "alice" in folder]


def test_storage_browser_downloads_the_exact_bytes(
    page: Page, storage_browser_url: str, dev_stack: DevStack
) -> None:
    signed_in(page, storage_browser_url, dev_stack, "alice")
    open_location(page, "users/alice/")
    expect(page.get_by_text("notes.txt", exact=True)).to_be_visible()

    with page.expect_download() as download:
        page.get_by_role("row", name="notes.txt").get_by_role("button", name="download").click()

    expected = dev_stack.admin_s3().get_object(Bucket="demo-data", Key="users/alice/notes.txt")["Body"].read()
    assert download.value.path().read_bytes() == expected


def test_storage_browser_uploads_and_s3_has_the_bytes(
    page: Page, storage_browser_url: str, dev_stack: DevStack
) -> None:
    content = os.urandom(64 * 1024)
    signed_in(page, storage_browser_url, dev_stack, "alice")
    open_location(page, "users/alice/")
    expect(page.get_by_text("notes.txt", exact=True)).to_be_visible()

    page.get_by_role("button", name="Menu Toggle").click()
    page.get_by_role("menuitem", name="Upload").click()
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Add files").click()
    chooser.value.set_files(
        files=[
            {"name": "from-storage-browser.bin", "mimeType": "application/octet-stream", "buffer": content}
        ]
    )
    page.get_by_role("button", name="Upload", exact=True).click()

    expect(page.get_by_text("All files uploaded.")).to_be_visible()
    stored = dev_stack.admin_s3().get_object(Bucket="demo-data", Key="users/alice/from-storage-browser.bin")
    assert stored["Body"].read() == content


def test_storage_browser_offers_no_upload_in_a_read_only_location(
    page: Page, storage_browser_url: str, dev_stack: DevStack
) -> None:
    signed_in(page, storage_browser_url, dev_stack, "alice")
    open_location(page, "shared/engineering/")
    expect(page.get_by_text("design.md", exact=True)).to_be_visible()

    page.get_by_role("button", name="Menu Toggle").click()

    expect(page.get_by_role("menuitem", name="Download")).to_be_visible()
    expect(page.get_by_role("menuitem", name="Upload")).to_have_count(0)


def test_storage_browser_refuses_a_location_outside_my_grant(
    page: Page, storage_browser_url: str, dev_stack: DevStack
) -> None:
    # A tampered location list (say, a compromised script) offers alice bob's prefix: the broker decides.
    def add_bobs_prefix(route: Route) -> None:
        answer = route.fetch()
        body = answer.json()
        body["grants"].append(
            {"grant_scope": "s3://demo-data/users/bob/*", "permission": "READ", "application_arn": None}
        )
        route.fulfill(response=answer, body=json.dumps(body))

    page.route("**/v1/grants", add_bobs_prefix)
    signed_in(page, storage_browser_url, dev_stack, "alice")

    with page.expect_response("**/v1/credentials") as credentials:
        open_location(page, "users/bob/")

    assert credentials.value.status == 403
    assert credentials.value.json()["code"] == "access_denied"
    expect(page.get_by_text("access_denied")).to_be_visible()
    expect(page.get_by_text("todo.txt", exact=True)).to_have_count(0)
