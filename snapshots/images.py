"""Static images of plotly figures: kaleido 1.x through one persistent sync server.

Kaleido 1.x drives a Chrome-family browser over the DevTools protocol. Starting the browser
costs about 3 s; after that each image takes about 0.25 s. So the process keeps one server
(`kaleido.start_sync_server`, a browser with one tab in a background thread) for its whole
life and every image goes through it (`kaleido.calc_fig_sync`). There is no fallback: if the
server is not running, `render` starts it; if it cannot start, exports fail with a message
rather than starting a browser per image.

The browser is the machine's own (never downloaded): `EQUITY_CHROMIUM`, else `BROWSER_PATH`
(choreographer's variable), else the first of chromium, chromium-browser, google-chrome on
the PATH, passed to kaleido as `path=`. MathJax is turned off and plotly.js comes from the
installed plotly package, so rendering needs no network.
"""
from __future__ import annotations

import io
import os
import shutil
import threading
import time
from pathlib import Path

import plotly.graph_objects as go

#: Default pixel size of exported charts (before `scale`).
WIDTH = 1100
SCALE = 2
START_TIMEOUT = 90.0  # seconds for the browser to start and draw its first figure
IMAGE_TIMEOUT = 60  # kaleido's own limit for one image
_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

_LOCK = threading.RLock()  # one request at a time: the server answers through one queue
_STATE: dict = {"started": False, "browser": None, "seconds": None, "broken": None}


class ImageServerError(RuntimeError):
    """The image server cannot start or has stopped; no image can be made."""


def browser_path() -> str:
    """The Chrome-family browser kaleido drives (see the module docstring)."""
    for variable in ("EQUITY_CHROMIUM", "BROWSER_PATH"):
        value = os.environ.get(variable)
        if value:
            if _executable(value):
                return value
            raise ImageServerError(f"{variable}={value!r} is not an executable browser")
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise ImageServerError(
        "no Chrome-family browser found for chart images: install Debian's chromium "
        "(apt-get install chromium) or set EQUITY_CHROMIUM to its path")


def _executable(path: str) -> bool:
    return Path(path).is_file() and os.access(path, os.X_OK)


def is_running() -> bool:
    return bool(_STATE["started"]) and _server_alive()


def _server():
    import kaleido

    return getattr(kaleido, "_global_server", None)


def _server_alive() -> bool:
    server = _server()
    if server is None or not server.is_running():
        return False
    thread = getattr(server, "_thread", None)
    return thread is None or thread.is_alive()


def start(browser: str | None = None, timeout: float = START_TIMEOUT) -> float:
    """Start the persistent image server (once per process) and draw a first figure so that
    the next images are fast. Returns the seconds it took (0 when already running)."""
    with _LOCK:
        if is_running():
            return 0.0
        if _STATE["started"]:  # it was started and has died: clean up before a new start
            stop()
        import kaleido

        path = browser or browser_path()
        if not _executable(path):
            raise ImageServerError(f"{path!r} is not an executable browser")
        began = time.perf_counter()
        kaleido.start_sync_server(path=path, mathjax=False, timeout=IMAGE_TIMEOUT,
                                  silence_warnings=True)
        _STATE.update(started=True, browser=path, broken=None)
        # The browser opens in the server's thread; if it cannot, that thread ends and a
        # request would wait for ever. So the first request waits in a watcher thread.
        outcome: dict = {}

        def first_image():
            try:
                outcome["image"] = kaleido.calc_fig_sync(
                    go.Figure(go.Scatter(x=[0, 1], y=[0, 1])), opts={"format": "png"})
            except Exception as error:  # reported below
                outcome["error"] = error

        watcher = threading.Thread(target=first_image, daemon=True, name="kaleido-start")
        watcher.start()
        deadline = time.monotonic() + timeout
        while watcher.is_alive() and time.monotonic() < deadline:
            watcher.join(0.1)
            if watcher.is_alive() and not _server_alive():
                break
        if "image" not in outcome:
            reason = outcome.get("error") or (
                "the browser did not start" if not _server_alive()
                else f"no answer within {timeout:.0f} s")
            _STATE.update(broken=str(reason))
            if _server_alive():
                stop()
            _STATE.update(started=False)
            raise ImageServerError(f"the chart image server could not start with {path}: "
                                   f"{reason}")
        _STATE["seconds"] = time.perf_counter() - began
        return _STATE["seconds"]


def stop() -> None:
    """Stop the image server (tests, shutdown). It starts again on the next `render`."""
    import kaleido

    with _LOCK:
        server = _server()
        if server is not None and server.is_running():
            # Also when its thread has died: closing then returns at once.
            kaleido.stop_sync_server(silence_warnings=True)
        _STATE.update(started=False)


def render(fig: go.Figure, fmt: str = "png", width: int | None = None,
           height: int | None = None, scale: float | None = None) -> bytes:
    """The figure as PNG or SVG bytes, drawn by the persistent server (started if needed).

    Width defaults to `WIDTH` pixels, height to the figure's own (charts set it from their
    content), PNG scale to `SCALE` (sharp on slides and in print)."""
    if fmt not in ("png", "svg"):
        raise ValueError(f"image format must be png or svg, not {fmt!r}")
    import kaleido

    opts = {"format": fmt, "width": width or WIDTH,
            "height": height or fig.layout.height or 500,
            "scale": (scale or SCALE) if fmt == "png" else 1}
    with _LOCK:
        if not is_running():
            start()
        if not _server_alive():  # never fall back to a browser per image
            raise ImageServerError("the chart image server has stopped")
        data = kaleido.calc_fig_sync(fig, opts=opts)
    if isinstance(data, str):
        data = data.encode("utf-8")
    return bytes(data)


def page_png(fig: go.Figure, ratio: float, min_width: int = 980,
             max_width: int = 1500) -> bytes:
    """The chart for a slide or a PDF page, whose own heading carries the chart's title and
    subtitle: drawn without them, at a width that fills a box of width/height `ratio` (at
    least `min_width`: the captions under a chart are wrapped for about that width)."""
    page = go.Figure(fig)
    margin = page.layout.margin
    top = margin.t if margin and margin.t is not None else 90
    new_top = 40  # room for labels drawn above the plot (reference line, legends)
    height = max((page.layout.height or 500) - max(top - new_top, 0), 200)
    page.update_layout(title=dict(text="", subtitle=dict(text="")),
                       margin=dict(t=new_top), height=height)
    width = int(min(max(height * ratio, min_width), max_width))
    return render(page, "png", width=width, height=height)


# --- a view as an image file --------------------------------------------------------------

FOOTER_LINE = 16  # pixels per footer line (11 px type)


def footer_lines(rendered) -> list[str]:
    """What an image states under its chart beyond its own title, subtitle and captions."""
    from charts.palette import caption_lines

    context = rendered.context
    lines = [f"Data as of {context.get('Data as of')} \u00b7 generated "
             f"{context.get('Generated')} \u00b7 filters: {context.get('Filters')}",
             f"Period: {context.get('Period')} \u00b7 reference group: "
             f"{context.get('Reference group')}",
             f"Suppression: {context.get('Suppression')}.",
             f"Flag rule: {context.get('Flag rule')}.",
             context.methods]
    return caption_lines(lines)


def figure_for_file(rendered) -> go.Figure:
    """A copy of the view's figure with the export footer (as-of date, generated-at time,
    filters, suppression, flag rule, methods) drawn under its captions."""
    fig = go.Figure(rendered.figure)
    lines = footer_lines(rendered)
    margin = fig.layout.margin
    bottom = margin.b if margin and margin.b is not None else 80
    height = fig.layout.height or 500
    extra = FOOTER_LINE * len(lines) + 12
    # `charts.palette.finish` hangs the captions from the plot's bottom edge and sizes the
    # bottom margin to end just below them: the footer starts there.
    fig.add_annotation(
        text="<br>".join(_escape(line) for line in lines), xref="paper", yref="paper", x=0,
        y=0, xanchor="left", yanchor="top", align="left", showarrow=False,
        yshift=-(bottom - 14), font=dict(size=11, color="#555555"), name="export footer")
    fig.update_layout(margin=dict(b=bottom + extra), height=height + extra)
    return fig


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_png(rendered) -> bytes:
    """The view's chart as PNG, with the footer drawn and the context in PNG text chunks
    (Title, Description, Comment, Creation Time, Software)."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    rendered.assert_safe()
    data = render(figure_for_file(rendered), "png")
    info = PngInfo()
    for key, value in _metadata(rendered).items():
        info.add_itxt(key, value)
    out = io.BytesIO()
    with Image.open(io.BytesIO(data)) as image:
        image.save(out, format="PNG", pnginfo=info, optimize=False)
    return out.getvalue()


def to_svg(rendered) -> bytes:
    """The view's chart as SVG, with the footer drawn and the context in <title>/<desc>."""
    from xml.sax.saxutils import escape

    rendered.assert_safe()
    text = render(figure_for_file(rendered), "svg").decode("utf-8")
    meta = _metadata(rendered)
    head_end = text.index(">", text.index("<svg")) + 1
    inserted = (f"<title>{escape(meta['Title'])}</title>"
                f"<desc>{escape(meta['Description'] + ' ' + meta['Comment'])}</desc>")
    return (text[:head_end] + inserted + text[head_end:]).encode("utf-8")


def _metadata(rendered) -> dict[str, str]:
    context = rendered.context
    return {
        "Title": context.title,
        "Description": rendered.summary or context.subtitle,
        "Comment": " | ".join(context.lines() + [context.methods]),
        "Creation Time": context.get("Generated"),
        "Software": "Health-equity dashboard (plotly, kaleido)",
    }
