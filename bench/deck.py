"""Benchmark: a 6-slide meeting deck once the image server is warm (target < 5 s).

    python -m bench.deck [--patients 20000] [--repeat 3]

The sample health system is imported once into bench/.cache (git-ignored). The persistent
kaleido server is started and timed apart (the browser's start, paid once per process).
Then the leaders' pack is built on the data as it is, from view specifications to PPTX
bytes, `--repeat` times: title slide, the overview's largest gaps, a disparity chart, the
phase progress, one group's control chart (a goal's run chart), methods slide. Nothing is
cached between builds: every build queries the database again. Also timed: the same pack
as PDF, one view's one-page PDF and PPTX, and where a build's time goes (views computed
with their charts drawn, against the deck assembled).
"""
from __future__ import annotations

import argparse
import io
import statistics
import time
from pathlib import Path

from bench.import_extract import sample_database
from store.engine import dispose_engine

CACHE = Path(__file__).resolve().parent / ".cache"
TARGET = 5.0




def timed(action):
    began = time.perf_counter()
    result = action()
    return time.perf_counter() - began, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    url = sample_database(args.patients, name="deck")
    import_seconds, _ = timed(lambda: __import__("snapshots"))
    from pptx import Presentation

    import snapshots
    from snapshots import images, slides
    from snapshots.packs import render_all

    start_seconds, _ = timed(images.start)
    pack = snapshots.leaders_pack("cbp", by=("race",), goal_group="Black or African American")
    print(f"sample: {args.patients:,} patients ({url})")
    print(f"import snapshots: {import_seconds:.2f} s; image server start: {start_seconds:.2f} s "
          f"(once per process; {images.browser_path()})")

    decks = []
    for run in range(1, args.repeat + 1):
        seconds, made = timed(lambda: snapshots.build_pack(pack, "pptx", url, actor="bench"))
        count = len(Presentation(io.BytesIO(made.data)).slides)
        decks.append(seconds)
        print(f"deck {run}: {count} slides, {len(made.data) / 1e6:.1f} MB in {seconds:.2f} s")
    median = statistics.median(decks)
    print(f"6-slide deck, warm image server: median {median:.2f} s, best {min(decks):.2f} s "
          f"(target < {TARGET:.0f} s: {median / TARGET:.2f} of the target, "
          f"{'met' if median < TARGET else 'NOT met'})")

    views_seconds, (rendered, charts) = timed(
        lambda: render_all(pack.views, url, slides.CHART_RATIO))
    assemble_seconds, _ = timed(lambda: slides.deck(rendered, charts, title=pack.title))
    print(f"  of which: {len(pack.views)} views computed and drawn {views_seconds:.2f} s, "
          f"deck assembled {assemble_seconds:.2f} s")
    for view in pack.views:
        seconds, _ = timed(lambda view=view: snapshots.render(view, url))
        print(f"    {view.label():<60} computed in {seconds:.2f} s")
    seconds, _ = timed(lambda: images.page_png(rendered[1].figure, slides.CHART_RATIO))
    print(f"    one chart drawn by the warm server: {seconds:.2f} s")

    seconds, _ = timed(lambda: snapshots.build_pack(pack, "pdf", url, actor="bench"))
    print(f"same pack as PDF (6 pages): {seconds:.2f} s")
    view = pack.views[1]
    for fmt in ("pdf", "pptx", "png", "xlsx"):
        seconds, _ = timed(lambda fmt=fmt: snapshots.export_bytes(view, fmt, url, actor="bench"))
        print(f"one view as {fmt}: {seconds:.2f} s")
    images.stop()
    dispose_engine(url)


if __name__ == "__main__":
    main()
