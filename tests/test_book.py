"""The book end to end: clean notebooks, every chapter executed with the tiny profile, a strict
build, the built HTML checked page by page, and the pages opened in a headless browser."""
from __future__ import annotations

import functools
import http.server
import re
import shutil
import threading
from html import unescape
from pathlib import Path

import nbformat
import pytest

from asdlib.book import ROOT, build_book, toc_notebooks
from asdlib.notebooks import NotebookError, check_parameters, execute_notebook, notebook_parameters

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


# ---------------------------------------------------------------- the notebooks as committed


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_carry_no_outputs_and_one_commented_parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), f"{path} has outputs"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    params = notebook_parameters(path)
    assert params and all(p.help for p in params.values()), "every parameter needs a comment"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert "**Next:**" in nb.cells[-1].source or path.stem == toc_notebooks()[-1].stem


def test_every_notebook_is_in_the_table_of_contents():
    assert [p.name for p in toc_notebooks()] == [p.name for p in NOTEBOOKS]


def test_bad_parameters_are_refused_before_anything_runs(tmp_path):
    nb = NOTEBOOKS[0]
    with pytest.raises(NotebookError, match="unknown parameter 'epochz'"):
        check_parameters(nb, {"epochz": 3})
    with pytest.raises(NotebookError, match="parameter 'seed' must be int"):
        check_parameters(nb, {"seed": "zero"})
    with pytest.raises(NotebookError, match="must be int"):
        check_parameters(nb, {"seed": True})
    out = tmp_path / "out.ipynb"
    with pytest.raises(NotebookError):
        execute_notebook(nb, out, {"epochz": 3})
    assert not out.exists()


def test_a_failing_cell_keeps_the_executed_notebook_and_names_the_error(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = 1  # a number", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("raise RuntimeError(f'broken {x}')")],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    src = tmp_path / "broken.ipynb"
    nbformat.write(nb, src)
    out = tmp_path / "run" / "broken.ipynb"
    with pytest.raises(NotebookError, match="RuntimeError: broken 7"):
        execute_notebook(src, out, {"x": 7})
    assert not out.exists()
    failed = nbformat.read(tmp_path / "run" / "broken.failed.ipynb", as_version=4)
    assert any(o.get("ename") == "RuntimeError" for c in failed.cells for o in c.get("outputs", []))


def test_a_chapter_run_by_plain_papermill_refuses_an_unknown_parameter(tmp_path):
    """papermill itself only logs "Passed unknown parameter" and runs on with the defaults."""
    import papermill

    with pytest.raises(papermill.PapermillExecutionError, match="unknown parameter\\(s\\) 'machin'"):
        papermill.execute_notebook(str(ROOT / "notebooks" / "03_autoencoder.ipynb"), str(tmp_path / "o.ipynb"),
                                   parameters={"machin": "valve", "data": str(tmp_path / "none")},
                                   progress_bar=False, log_output=False)
    assert not (tmp_path / "none").exists()  # stopped before the data were made


def test_the_chapters_default_folders_are_the_repositorys_whatever_the_working_directory(tmp_path,
                                                                                          monkeypatch):
    from asdlib.project import BUILD, chapter_runs

    monkeypatch.chdir(tmp_path)
    assert chapter_runs("") == ROOT / "_build" / "runs" == BUILD / "runs"
    assert chapter_runs("here") == tmp_path / "here"  # a path given is the caller's
    for nb in NOTEBOOKS:
        declared = notebook_parameters(nb)
        for name in ("data", "runs"):
            if name in declared:
                assert declared[name].default == "", f"{nb.name}: {name} defaults to a path"


def test_a_chapters_imports_leave_out_the_notebook_reader():
    """Every chapter's kernel imports what its cells name; nbformat (with jsonschema's format checkers: 3 s
    a kernel on the 2-core machine) and papermill are the builder's, not a chapter's."""
    import ast
    import subprocess
    import sys

    modules = set()
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                for node in ast.walk(ast.parse(cell.source)):
                    if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                        modules.add(node.module)
                    elif isinstance(node, ast.Import):
                        modules.update(a.name for a in node.names)
    assert "asdlib.notebooks" in modules and "asdlib.pipeline" in modules
    code = (f"import sys\nfor m in {sorted(modules)!r}: __import__(m)\n"
            "print(sorted(m for m in ('nbformat', 'jsonschema', 'papermill') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# ---------------------------------------------------------------- the smoke build


#: The smoke build's machine types: a subset without the chapters' default (fan), as a user who
#: downloaded only the types they care about has it; the chapters take the first one present.
SMOKE_MACHINES = ["valve", "pump"]


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """Every chapter executed with the tiny settings on tiny data of two machine types (no fan), and
    the book rendered strictly (the results chapter trains every system here, on both types)."""
    from asdlib.synth import get_profile, synthesize

    base = tmp_path_factory.mktemp("book")
    data, out = base / "data", base / "_build"
    synthesize(data, profile=get_profile("tiny"), seed=0, machines=SMOKE_MACHINES, workers=2, progress=False)
    html = build_book(out, data=data, settings="tiny", params={"progress": False}, progress=False)
    return out, html


def _pages():
    return ["book/intro", *[f"notebooks/{p.stem}" for p in toc_notebooks()]]


@pytest.mark.slow
def test_every_chapter_renders_with_its_figures_and_no_error(built):
    out, html = built
    for page in _pages():
        path = html / f"{page}.html"
        assert path.exists(), f"{page} is missing from the book"
        text = path.read_text(encoding="utf-8")
        assert "Traceback" not in text and "output traceback" not in text, f"error output in {page}"
        assert not re.search(r"\b\w+Error\b(?!Boundary)", re.sub(r"<[^>]+>", " ", text)), page
        assert "output stderr" not in text, f"{page} prints to stderr (a warning?)"
        # a MyST role in a cell's Markdown output is printed as it is, not rendered
        assert not re.search(r"\{(doc|ref|numref|eq|cite|download|term)\}", text), f"{page} shows a raw MyST role"
        images = re.findall(r'<img[^>]+src="([^"]+)"', text)
        for src in images:
            if src.startswith(("http:", "https:", "data:")):
                continue
            file = (path.parent / src).resolve()
            assert file.is_file() and file.stat().st_size > 1000, f"{page}: image {src} missing or empty"
        if page.startswith("notebooks/"):
            figures = re.findall(r'<figure[^>]*id="fig-', text)
            assert figures, f"{page} has no figure"
            assert "tag_injected-parameters" in text, f"{page} does not show its injected parameters"
    timings = (out / "timings.csv").read_text()
    assert "jupyter-book build" in timings and "total" in timings
    for chapter in ("01_data", "03_autoencoder", "04_mobilenetv2", "05_contrastive", "06_median_filter",
                    "08_run", "09_backends"):  # fan, their default, is absent: they say which they took
        text = unescape(html.joinpath(f"notebooks/{chapter}.html").read_text(encoding="utf-8"))
        assert "has no 'fan' folder: this chapter looks at" in text, chapter


@pytest.mark.slow
def test_the_results_chapter_covers_every_machine_type_and_labels_the_papers_numbers(built):
    _, html = built
    text = html.joinpath("notebooks/07_results.html").read_text(encoding="utf-8")
    for machine in ("fan", "gearbox", "pump", "slider", "valve", "ToyCar", "ToyTrain"):
        assert f">{machine}<" in text, machine
    assert "reported by the poster" in text and "measured" in text
    assert "synthetic machine sounds" in text  # the data set is named plainly


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian package chromium; "
                                             ".ci/run installs it): browser check skipped")
def test_the_book_opens_in_a_browser_without_console_errors(built):
    from playwright.sync_api import sync_playwright

    out, html = built

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=html))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    shots = out / "screenshots"
    shots.mkdir(exist_ok=True)
    errors, external, typeset = [], [], {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM,
                                        args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            # offline: a request to another host is refused (and listed); the book must need none
            page.route(re.compile(r"^https?://(?!127\.0\.0\.1)"),
                       lambda route: (external.append(route.request.url), route.abort())[1])
            page.on("console", lambda m: errors.append(f"{m.text} ({m.location.get('url')})")
                    if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            for name in _pages():
                page.goto(f"http://127.0.0.1:{server.server_port}/{name}.html", wait_until="load")
                if name == "notebooks/05_contrastive":  # formulas: typeset by the book's own MathJax
                    page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise",
                                           timeout=30_000)
                    page.evaluate("MathJax.startup.promise")
                    typeset[name] = page.locator(".math mjx-container").count()
                if name in ("book/intro", "notebooks/07_results"):
                    page.screenshot(path=str(shots / f"{Path(name).name}.png"), full_page=True)
            browser.close()
    finally:
        server.shutdown()
    assert not errors, errors
    assert not external, f"the book asked the network for {external}"
    assert typeset.get("notebooks/05_contrastive", 0) >= 3, typeset  # math, not TeX source
    for name in ("intro", "07_results"):
        assert (shots / f"{name}.png").stat().st_size > 10_000


def test_a_bad_book_parameter_stops_the_build_before_anything_is_written(tmp_path):
    out = tmp_path / "_build"
    with pytest.raises(NotebookError, match="no chapter has a parameter named 'epochz'"):
        build_book(out, profile="tiny", settings="tiny", params={"epochz": 3}, progress=False)
    with pytest.raises(NotebookError, match="parameter 'seeds' must be list"):
        build_book(out, profile="tiny", settings="tiny", params={"seeds": 3}, progress=False)
    # values a chapter would refuse only when its turn came (chapter 5, 8 or 9), refused before chapter 1
    for params, message in (({"recipe": "bogus"}, r"05_contrastive.ipynb: unknown recipe 'bogus'"),
                            ({"config": {"lr": -1}}, r"08_run.ipynb: lr must be positive"),
                            ({"dataset": "test"}, r"08_run.ipynb: dataset must be 'dev' or 'eval'"),
                            ({"systems": ["MBv3"]}, r"09_backends.ipynb: unknown system 'MBv3'"),
                            ({"backends": {"long": {"epochs": 3}}}, r"back end 'long': epochs are not scoring"),
                            ({"augment": {"a": {"mixup_alpha": "x"}}}, r"augment 'a'.*'mixup_alpha' must be float")):
        with pytest.raises(NotebookError, match=message):
            build_book(out, profile="tiny", settings="tiny", params=params, progress=False)
    with pytest.raises(NotebookError, match=r"03_autoencoder.ipynb: device 'bogus' is not a torch device"):
        build_book(out, profile="tiny", settings="tiny", device="bogus", progress=False)
    assert not out.exists()  # not even the build folder


def _one_section(tiny_data, tmp_path, machines) -> Path:
    """The tiny data with only section 00 left in the development data of ``machines``."""
    root = tmp_path / "one-section"
    shutil.copytree(tiny_data / "dev_data", root / "dev_data")
    for machine in machines:
        for clip in (root / "dev_data" / machine).rglob("section_0[12]_*.wav"):
            clip.unlink()
    return root


def test_machine_types_with_one_section_are_refused_by_the_classifier_chapters(tiny_data, tmp_path, capsys):
    from asdlib.layout import LayoutError
    from asdlib.project import pick_machine

    dev = _one_section(tiny_data, tmp_path, ["fan"]) / "dev_data"
    assert pick_machine(dev, "fan") == "fan"  # the autoencoder needs no sections
    with pytest.raises(LayoutError, match=r"needs two or more sections.*fan: section 00"):
        pick_machine(dev, "fan", classifier=True)
    assert pick_machine(dev, "pump", classifier=True) == "valve"  # absent: the first one with two
    assert "looks at 'valve' instead" in capsys.readouterr().out


def test_the_book_refuses_data_without_two_sections_before_anything_runs(tiny_data, tmp_path):
    from asdlib.layout import LayoutError

    out = tmp_path / "_build"
    every = _one_section(tiny_data, tmp_path, ["fan", "valve"])
    with pytest.raises(LayoutError, match=r"needs two or more sections.*fan: section 00; valve: section 00"):
        build_book(out, data=every, settings="tiny", progress=False)
    assert not out.exists() or not any(out.iterdir())
    shutil.rmtree(every)
    some = _one_section(tiny_data, tmp_path, ["fan"])  # the results chapter would train fan's classifiers
    with pytest.raises(LayoutError, match=r"fan: section 00\)$"):
        build_book(out, data=some, settings="tiny", progress=False)
    assert not out.exists() or not any(out.iterdir())


def test_chapters_start_in_reading_order_at_most_jobs_at_a_time_and_a_failure_stops_the_rest():
    import threading
    import time

    from asdlib.book import run_in_order

    lock, started, now, most = threading.Lock(), [], [0], [0]

    def work(item, broken=None):
        with lock:
            started.append(item)
            now[0] += 1
            most[0] = max(most[0], now[0])
        time.sleep(0 if item == broken else 0.05 * (item % 3))
        with lock:
            now[0] -= 1
        if item == broken:
            raise RuntimeError(f"chapter {item} broke")

    run_in_order(range(8), work, 3)
    assert started == list(range(8)) and most[0] == 3
    started.clear()
    told = []
    with pytest.raises(RuntimeError, match="chapter 4 broke"):
        run_in_order(range(8), lambda item: work(item, broken=4), 2, on_failure=lambda item, err: told.append(item))
    assert told == [4] and started[:5] == [0, 1, 2, 3, 4] and 7 not in started  # no new start after it
    with pytest.raises(ValueError, match="jobs must be at least 1"):
        run_in_order([1], work, 0)


def test_a_chapter_that_reads_other_chapters_runs_starts_after_them_and_later_ones_take_its_place():
    """The results chapter reads chapters 3 to 6's runs as it finds them: two at a time, it waited for
    none and showed five runs of six when chapter 6 still trained its last row."""
    import threading
    import time

    from asdlib.book import AFTER, run_in_order, toc_notebooks

    lock, events = threading.Lock(), []

    def work(item):
        with lock:
            events.append(("start", item))
        time.sleep({"slow": 0.6, "reader": 0.05}.get(item, 0.1))
        with lock:
            events.append(("end", item))

    run_in_order(["slow", "quick", "reader", "next"], work, 2, after={"reader": ["slow", "quick"]})
    at = {e: i for i, e in enumerate(events)}
    assert at[("start", "reader")] > at[("end", "slow")]  # not when "quick" ended and a slot was free
    assert at[("start", "next")] < at[("end", "slow")]  # the next chapter took the free slot meanwhile
    assert len(events) == 8
    with pytest.raises(ValueError, match="'a' waits for items that cannot finish first: 'b'"):
        run_in_order(["a", "b"], work, 2, after={"a": ["b"], "b": ["a"]})
    stems = [nb.stem for nb in toc_notebooks()]
    for reader, read in AFTER.items():  # the names are the book's chapters, each read one before its reader
        assert reader in stems and all(stems.index(r) < stems.index(reader) for r in read)


def test_an_interrupt_stops_the_chapters_at_once_not_when_the_running_ones_end():
    """Ctrl-C during `make book`: the builder stops now (its chapters' kernels stop with it), instead of
    waiting minutes for the chapters running beside each other to finish.  In a process of its own, whose
    main thread gets the SIGINT (a pytest-xdist worker may run this test in another thread)."""
    import subprocess
    import sys

    code = """
import os, signal, threading, time
from asdlib.book import run_in_order
signal.signal(signal.SIGINT, signal.default_int_handler)
never = threading.Event()
def work(item):
    if item == 0:
        never.wait(120)  # a long chapter
    else:
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGINT)  # as the terminal's Ctrl-C
t0 = time.perf_counter()
try:
    run_in_order([0, 1, 2], work, 2)
except KeyboardInterrupt:
    print("interrupted", time.perf_counter() - t0)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=100, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    word, seconds = done.stdout.split()
    assert word == "interrupted" and float(seconds) < 30
