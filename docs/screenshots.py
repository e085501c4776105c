"""Screenshots of the server's pages at 1366x768 in Debian's Chromium.

    python docs/screenshots.py BASE_URL USER PASSPHRASE_FILE OUT_DIR [--all] [--client C001]
                               [--page NAME=/PATH ...]

Signs in as USER at BASE_URL (a running ``archive serve``), then saves
search.png (a search for 合同; for a user who lands elsewhere, such as an
auditor, none), and with ``--all`` every page: signin,
search, clients, dossier, document, upload, account; each ``--page`` saves
NAME.png of that path (e.g. ``--page application=/applications/A0001``). ``make demo`` runs it
for one page; docs/screenshots/ holds a full set (README links them).
Fails if a page asks for anything from elsewhere than the server, or the
browser reports an error (a CSP violation among them). Exits 0 with a note
when no chromium is installed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("user")
    ap.add_argument("passphrase_file", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--all", action="store_true")
    ap.add_argument("--client", default="C001")
    ap.add_argument("--query", default="合同")
    ap.add_argument("--page", action="append", default=[], metavar="NAME=/PATH",
                    help="also save NAME.png of the page at /PATH (repeatable)")
    args = ap.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("screenshots: no chromium here (apt-get install chromium); skipped")
        return 0
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    passphrase = args.passphrase_file.read_text(encoding="utf-8").splitlines()[0]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--lang=zh-CN"])
        page = browser.new_page(viewport={"width": 1366, "height": 768}, locale="zh-CN")
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        elsewhere: list[str] = []  # every request must go to the archive's own server
        page.on("request", lambda r: None if r.url.startswith((args.base + "/", "data:")) else elsewhere.append(r.url))

        def shot(name: str) -> None:
            page.screenshot(path=str(args.out / f"{name}.png"))
            print(f"screenshots: {args.out / (name + '.png')}")

        page.goto(args.base + "/signin")
        if args.all:
            shot("signin")
        page.fill("input[name=user]", args.user)
        page.fill("input[name=passphrase]", passphrase)
        page.click("form button[type=submit]")
        page.wait_for_url(lambda url: "/signin" not in url)  # the user's landing page (an auditor's is /audit)
        if page.url.endswith("/search"):
            page.fill("input[name=q]", args.query)
            page.click("form.search button")
            page.wait_for_selector("p.count")
            shot("search")
        if args.all:
            page.goto(args.base + "/clients")
            shot("clients")
            page.goto(f"{args.base}/clients/{args.client}")
            shot("dossier")
            first = page.locator("section.kind a").first
            if first.count():
                first.click()
                page.wait_for_load_state()
                shot("document")
            page.goto(args.base + "/upload")
            shot("upload")
            page.goto(args.base + "/account")
            shot("account")
        for spec in args.page:
            name, _, path = spec.partition("=")
            page.goto(args.base + path)
            shot(name)
        page.click("form.signout button")
        page.wait_for_url("**/signin")
        browser.close()
    if elsewhere:
        print("screenshots: requests to elsewhere than the server: " + ", ".join(elsewhere), file=sys.stderr)
        return 1
    if errors:
        print("screenshots: the browser reported errors: " + "; ".join(errors), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
