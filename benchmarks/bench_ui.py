"""Benchmark the web page: page weight and load time of the priority list (not a timed test).

One run, all on 127.0.0.1: a generated CRM (default 10,000 leads) in SQLite and a lead model
trained and registered as champion (``bench_serving.build_world``), served by
``bentoml serve``; then, signed in with the API key:

1. the first priority list (cold: reads the store, builds features for every open lead at
   today's and yesterday's as-of and ranks them, explains the 50 shown);
2. the same page warm, another page, a filter, the Japanese page (reasons explained on first
   show), and a lead page — median and max server+transfer time over ``--repeats`` requests
   (``httpx``, keep-alive), with the page weight in bytes;
3. the priority list in chromium (Playwright): navigation until the ``load`` event.

    .venv/bin/python benchmarks/bench_ui.py --leads 10000
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_serving import MODEL, build_world  # noqa: E402
from serving.process import leadscore_server  # noqa: E402

KEY = "bench-ui-key-0123456789"


def timed_get(client: httpx.Client, path: str) -> tuple[float, int]:
    """Seconds and bytes of one GET (status must be 200)."""
    started = time.perf_counter()
    answer = client.get(path)
    seconds = time.perf_counter() - started
    if answer.status_code != 200:
        raise RuntimeError(f"GET {path}: {answer.status_code} {answer.text[:300]}")
    return seconds, len(answer.content)


def measure_pages(client: httpx.Client, repeats: int, lead_id: str) -> list[str]:
    """Rows of the page table: cold first, then warm medians."""
    cold, weight = timed_get(client, "/ui/")
    rows = [f"{'priority list, cold (build + rank + explain 50)':<52}{cold * 1000:>10.0f}"
            f"{'':>10}{weight:>10,}"]
    for name, path in [("priority list, warm", "/ui/"),
                       ("priority list, page 2 (first view explains 50)", "/ui/?page=2"),
                       ("priority list, grade A filter", "/ui/?grade=A"),
                       ("priority list, Japanese", "/ui/?lang=ja"),
                       ("lead page (13 weekly scores, reasons)", f"/ui/leads/{lead_id}")]:
        times = []
        for _ in range(repeats):
            seconds, weight = timed_get(client, path)
            times.append(seconds)
        rows.append(f"{name:<52}{statistics.median(times) * 1000:>10.0f}"
                    f"{max(times) * 1000:>10.0f}{weight:>10,}")
    return rows


def browser_load(url: str, cookie: str) -> float | None:
    """Seconds from navigation to the ``load`` event of the priority list in chromium."""
    executable = shutil.which("chromium")
    if executable is None:
        return None
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        context = browser.new_context()
        context.add_cookies([{"name": "leadscore_session", "value": cookie, "url": url}])
        page = context.new_page()
        started = time.perf_counter()
        page.goto(url + "/ui/", wait_until="load")
        seconds = time.perf_counter() - started
        browser.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="leadscore-bench-ui-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        world = build_world(root, args.leads)
        print(f"world: {args.leads:,} leads, model trained in "
              f"{time.perf_counter() - started:.1f} s")
        server = leadscore_server({
            "LEADSCORE_API_KEY": KEY, "LEADSCORE_DATABASE_URL": world["crm_url"],
            "LEADSCORE_MLFLOW_TRACKING_URI": world["tracking_uri"],
            "LEADSCORE_SQL_MODEL_NAME": MODEL, "LEADSCORE_SERVING_LOAD_WIN_MODEL": "false",
            "LEADSCORE_CONFIG": str(root / "absent.yaml")}, root / "server.log")
        try:
            server.wait_ready()
            with httpx.Client(base_url=server.url, timeout=600) as client:
                client.post("/ui/login", data={"key": KEY, "next": "/ui/"})
                cookie = client.cookies["leadscore_session"]
                lead_id = str(world["tables"]["leads"]["lead_id"].iloc[-1])
                rows = measure_pages(client, args.repeats, lead_id)
            load = browser_load(server.url, cookie)
        finally:
            server.stop()
    print(f"\n{'page':<52}{'median ms':>10}{'max ms':>10}{'bytes':>10}")
    print("\n".join(rows))
    if load is not None:
        print(f"\npriority list in chromium, navigation to load event: {load * 1000:.0f} ms")
    print("target: priority list of 10,000 leads under 1 s (warm)")


if __name__ == "__main__":
    main()
