"""Shared pieces of the observability tests: headless Chromium on 127.0.0.1
pages and a DOM reader. Standard library only."""
import html.parser
import os
import shutil
import subprocess
import tempfile

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
                  "--disable-default-apps", "--mute-audio"]


def chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    raise AssertionError("chromium is not installed: run deploy/install-deps.sh --test")


def run_chromium(url, extra, timeout=90):
    assert url.startswith("http://127.0.0.1:"), "only pages on 127.0.0.1"
    profile = tempfile.mkdtemp(prefix="synod-chromium-")
    try:
        result = subprocess.run([chromium()] + CHROMIUM_FLAGS + [f"--user-data-dir={profile}"] + extra + [url],
                                capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise AssertionError(f"chromium exited {result.returncode}: {result.stderr[-2000:]}")
        return result.stdout
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def dump_dom(url, budget_ms=5000):
    """The DOM after the page's scripts ran for `budget_ms` of virtual time."""
    return run_chromium(url, [f"--virtual-time-budget={budget_ms}", "--dump-dom"])


def screenshot(url, path, budget_ms=5000, size="1280,1000"):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    run_chromium(url, [f"--virtual-time-budget={budget_ms}", f"--screenshot={path}", f"--window-size={size}",
                       "--hide-scrollbars"])
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"


class Dom(html.parser.HTMLParser):
    """Every element's tag, attributes and text, in document order."""

    def __init__(self, text):
        super().__init__()
        self.elements = []
        self._open = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        element = {"tag": tag, "attrs": dict(attrs), "text": ""}
        self.elements.append(element)
        if tag not in ("br", "meta", "link", "img", "input", "hr", "col"):
            self._open.append(element)

    def handle_endtag(self, tag):
        while self._open:
            element = self._open.pop()
            if element["tag"] == tag:
                break

    def handle_data(self, data):
        for element in self._open:
            element["text"] += data

    def by_id(self, element_id):
        for element in self.elements:
            if element["attrs"].get("id") == element_id:
                return element
        raise AssertionError(f"no element #{element_id} on the page")

    def having(self, attribute, value=None):
        return [e for e in self.elements
                if attribute in e["attrs"] and (value is None or e["attrs"][attribute] == value)]

    def with_class(self, name):
        return [e for e in self.elements if name in (e["attrs"].get("class") or "").split()]
