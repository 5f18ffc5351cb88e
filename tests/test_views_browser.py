"""report.html as a reader's browser shows it: Debian's chromium, headless and offline, opens the report of
a research run (toy jobs, tests/views_rig.py) and every page it links to, and finds no broken image, no
dead link (a file, or an anchor on its page) and no layout wider than the window. The same check is shown
to catch each of those on a deliberately broken copy."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from team.engine.records.events import read_events
from tests.views_rig import report_run

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM.exists() and DRIVER.exists()),
                                reason="needs Debian's chromium and chromium-driver in /usr/bin "
                                       "(apt-get install chromium chromium-driver; .ci/run installs them)")
WIDTHS = (1280, 1024)  # a laptop's window, and a narrower one

_LOOK = """
const out = [];
for (const img of document.images) {
  if (!img.complete || img.naturalWidth === 0) out.push('broken image: ' + (img.alt || img.src.slice(0, 60)));
  if (!img.src.startsWith('data:') && !img.src.startsWith('file:')) out.push('image from the network: ' + img.src);
}
const root = document.documentElement;
if (root.scrollWidth > root.clientWidth) out.push(`wider than the page: ${root.scrollWidth} > ${root.clientWidth} px`);
const links = [...document.querySelectorAll('a[href], area[href]')].map(a => a.href);
const ids = [...document.querySelectorAll('[id]')].map(e => e.id);
return [out, links, ids];
"""


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--proxy-server=127.0.0.1:9", "--no-first-run"):  # no network: nothing may load from it
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(str(DRIVER)))
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out, _ = report_run(tmp_path_factory.mktemp("browser"))
    return out


def problems(driver, page: Path, width: int = WIDTHS[0]) -> list[str]:
    """What a reader of `page` would hit: broken images, dead links (files, and anchors on the pages they
    open; every HTML page linked is opened and checked too) and a page wider than the window."""
    found: list[str] = []
    ids: dict[Path, set[str]] = {}
    anchors: list[tuple[Path, Path, str]] = []  # (linking page, target page, anchor)
    todo = [page.resolve()]
    driver.set_window_size(width, 900)
    while todo:
        here = todo.pop()
        if here in ids:
            continue
        driver.get(here.as_uri())
        _wait_for_whole(driver, here)
        out, links, on_page = driver.execute_script(_LOOK)
        ids[here] = set(on_page)
        found += [f"{here.name}: {p}" for p in out]
        for href in links:
            target, anchor = _follow(href)
            if target is None:
                found.append(f"{here.name}: a link leaves the run folder: {href}")
            elif not target.is_file():
                found.append(f"{here.name}: dead link {href}")
            else:
                todo += [target] if target.suffix == ".html" else []
                anchors += [(here, target, anchor)] if anchor else []
    return found + [f"{here.name}: dead anchor {'' if target == here else target.name}#{anchor}"
                    for here, target, anchor in anchors if anchor not in ids.get(target, set())]


def _wait_for_whole(driver, page: Path, seconds: float = 60) -> None:
    """Until `page` is the document and has loaded whole, images included: under a busy suite chromedriver's
    get() has returned on a half-parsed report (CI saw its 25 table-of-contents links with none of the
    sections they point to), and a look then finds dead anchors that a reader never sees."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, seconds, poll_frequency=0.1).until(lambda d: d.execute_script(
        "return document.readyState === 'complete' && document.URL.split('#')[0] === arguments[0]"
        " && [...document.images].every(i => i.complete)", page.as_uri()))


def _follow(href: str) -> tuple[Path | None, str]:
    url = urlsplit(href)
    if url.scheme != "file":
        return None, ""
    return Path(unquote(url.path)), unquote(url.fragment)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_report_and_every_page_it_links_open_whole(browser, run, width):
    assert problems(browser, run / "report.html", width) == []


def test_the_report_links_every_jobs_logs_and_every_agents_conversations(browser, run):
    browser.get((run / "report.html").resolve().as_uri())
    hrefs = set(browser.execute_script("return [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))"))
    for job in (run / "jobs").iterdir():
        assert {f"jobs/{job.name}/stdout.log", f"jobs/{job.name}/stderr.log"} <= hrefs, job.name
    for page in (run / "transcripts").glob("*.html"):
        assert f"transcripts/{page.name}" in hrefs
    trained = next(r for r in read_events(run / "events.jsonl") if r["event"] == "job_finished" and r.get("node"))
    browser.get((run / f"jobs/{trained['job_id']}/stdout.log").resolve().as_uri())  # a log opens as text
    assert "status: ok" in browser.find_element("tag name", "body").text


BREAKAGES = {
    "a broken image": ('<img alt="lost" src="plot_lost.png">', "broken image: lost"),
    "a dead link": ('<a href="jobs/nosuch/stdout.log">logs</a>', "dead link"),
    "a dead anchor": ('<a href="#nosuch">up</a>', "dead anchor #nosuch"),
    "a layout wider than the page": ('<table><tr><td style="white-space:nowrap">' + "x" * 400 + "</td></tr></table>",
                                     "wider than the page"),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_the_check_fails_a_report_with(browser, run, tmp_path, breakage):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    html, said = BREAKAGES[breakage]
    page = copy / "report.html"
    page.write_text(page.read_text() + html)  # a browser puts what follows the page in its body
    found = problems(browser, page)
    assert len(found) == 1 and said in found[0], found
