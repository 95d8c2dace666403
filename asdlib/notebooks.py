"""Notebooks as units of work: their ``parameters`` cell, checked parameters, papermill execution.

A notebook of ``notebooks/`` has exactly one cell tagged ``parameters``; each
line of it assigns a literal (string, number, bool, list) to one name, with a
comment saying what it is.  :func:`notebook_parameters` reads that cell
without running anything, :func:`check_parameters` refuses unknown names and
values of the wrong type before any work starts, and
:func:`execute_notebook` runs a notebook with papermill into an output file
written atomically: the output path holds either nothing or a finished
notebook (a failed run's notebook, with its error, goes to
``<name>.failed.ipynb``).
"""
from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from ._atomic import atomic_path
from .errors import NotebookError

FAILED_SUFFIX = ".failed.ipynb"


@dataclass(frozen=True)
class Parameter:
    name: str
    default: Any
    help: str

    @property
    def kind(self) -> type:
        return type(self.default)


def _parameters_cell(nb, path: Path):
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise NotebookError(f"{path}: {len(cells)} cells tagged 'parameters'; a notebook needs exactly one")
    return cells[0]


def notebook_parameters(path: str | Path) -> dict[str, Parameter]:
    """The parameters a notebook declares, in order: name -> :class:`Parameter`."""
    import nbformat  # here: its import takes 3 s (jsonschema's format checkers), and every chapter's kernel
    # imports this module for refuse_unknown_parameters, which reads no notebook file

    path = Path(path)
    try:
        nb = nbformat.read(path, as_version=4)
    except (OSError, ValueError) as err:
        raise NotebookError(f"{path}: not a readable notebook ({err})") from None
    source = _parameters_cell(nb, path).source
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise NotebookError(f"{path}: the parameters cell is not valid Python ({err.msg}, "
                            f"line {err.lineno})") from None
    comments = {tok.start[0]: tok.string.lstrip("#").strip()
                for tok in tokenize.generate_tokens(io.StringIO(source).readline)
                if tok.type == tokenize.COMMENT}
    out = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)):
            raise NotebookError(f"{path}: line {node.lineno} of the parameters cell is not "
                                f"'name = value  # what it is'")
        try:
            value = ast.literal_eval(node.value)
        except ValueError:
            raise NotebookError(f"{path}: parameter {node.targets[0].id} (line {node.lineno}) is "
                                f"not a literal value") from None
        name = node.targets[0].id
        out[name] = Parameter(name, value, comments.get(node.lineno, ""))
    return out


def _type_ok(kind: type, value: Any) -> bool:
    if kind is bool or isinstance(value, bool):
        return isinstance(value, bool) and kind is bool
    if kind is float:
        return isinstance(value, (int, float))
    if kind is type(None):
        return True
    return isinstance(value, kind)


def check_parameters(path: str | Path, params: Mapping[str, Any], *,
                     declared: Mapping[str, Parameter] | None = None) -> dict[str, Parameter]:
    """Refuse names the notebook does not declare and values of another type than its default's.

    An int is accepted where the default is a float.  ``declared``: the
    notebook's parameters when already read (checking many runs of one
    notebook reads it once).  Returns the notebook's parameters.
    """
    declared = notebook_parameters(path) if declared is None else declared
    problems = []
    for name, value in params.items():
        if name not in declared:
            problems.append(f"unknown parameter {name!r} (it has: {', '.join(declared)})")
        elif not _type_ok(declared[name].kind, value):
            problems.append(f"parameter {name!r} must be {declared[name].kind.__name__} like its "
                            f"default {declared[name].default!r}, got {type(value).__name__} {value!r}")
    if problems:
        raise NotebookError(f"{path}: " + "; ".join(problems))
    return declared


def _assigned(source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return [t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
            if isinstance(t, ast.Name)]


def refuse_unknown_parameters() -> None:
    """In a chapter's kernel: stop when papermill injected a parameter its parameters cell lacks.

    Papermill only logs "Passed unknown parameter" and runs on with the
    default (``-p machin valve`` trains ``fan``).  The cells a kernel ran are
    in IPython's ``In``: the injected one starts with ``# Parameters``, the
    chapter's own parameters cell is the one before it.  Outside IPython, or
    when nothing was injected, this does nothing.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    history = list(shell.user_ns.get("In", [])) if shell is not None else []
    for i, source in enumerate(history):
        if i and source.lstrip().startswith("# Parameters"):
            declared = set(_assigned(history[i - 1]))
            unknown = [n for n in _assigned(source) if n not in declared]
            if unknown:
                raise NotebookError(f"unknown parameter(s) {', '.join(map(repr, unknown))}: this chapter's "
                                    f"parameters are {', '.join(sorted(declared))}")


def failed_path(output: str | Path) -> Path:
    output = Path(output)
    return output.with_name(output.name.removesuffix(".ipynb") + FAILED_SUFFIX)


@contextlib.contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    """Set ``env`` in this process's environment (which a kernel started meanwhile inherits) for the
    block, then restore what was there.  Not for threads that set different values at once."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def execute_notebook(notebook: str | Path, output: str | Path, params: Mapping[str, Any], *,
                     cwd: str | Path | None = None, kernel: str = "python3",
                     progress: bool = False, env: Mapping[str, str] | None = None) -> Path:
    """Run ``notebook`` with ``params`` (checked first) into ``output``, atomically.

    ``cwd``: the kernel's working directory (default: the notebook's folder,
    as in Jupyter).  ``env``: variables set for the kernel.  On a failed cell
    the executed notebook, with its error, is kept as
    :func:`failed_path` and :class:`NotebookError` names the cell and the error.
    """
    import papermill  # imported here: it is slow to import and only needed to run notebooks

    notebook, output = Path(notebook), Path(output)
    check_parameters(notebook, params)
    output.parent.mkdir(parents=True, exist_ok=True)
    failed = failed_path(output)
    with environment(env or {}), atomic_path(output, suffix=".ipynb") as tmp:
        try:
            papermill.execute_notebook(str(notebook), str(tmp), parameters=dict(params),
                                       cwd=str(cwd or notebook.parent), kernel_name=kernel,
                                       progress_bar=progress, log_output=False,
                                       # the kernel's own log (its "running over TCP without
                                       # encryption" warning) is not the notebook's output
                                       extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
        except papermill.PapermillExecutionError as err:
            os.replace(tmp, failed)
            raise NotebookError(f"{notebook}: cell {err.exec_count} failed: {err.ename}: "
                                f"{err.evalue} (the executed notebook: {failed})") from None
    failed.unlink(missing_ok=True)
    return output


def is_chapter(path: str | Path) -> bool:
    """Whether ``path`` names one of the book's chapters (``notebooks/NN_name.ipynb``)."""
    return re.fullmatch(r"\d\d_\w+\.ipynb", Path(path).name) is not None


def lab_pre_save(model: dict, path: str, contents_manager=None, **kwargs) -> None:
    """JupyterLab's pre-save hook (``make lab``): a chapter is saved without its outputs.

    The chapters are kept in git without outputs, and papermill executes them
    afresh for the book; what a reader runs in JupyterLab stays on the screen
    and out of the file.  A notebook saved under another name (File > Save As)
    keeps its outputs.
    """
    if model.get("type") != "notebook" or not is_chapter(path):
        return
    for cell in model["content"].get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None


def lab_command(extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The command of ``asdlib lab`` (``make lab``): JupyterLab on the chapters, with this Python as
    their kernel and :func:`lab_pre_save` as its pre-save hook; ``extra``: further JupyterLab options.

    The kernel is the Python that runs JupyterLab (jupyter_client starts the ``python3`` kernel with
    ``sys.executable``), so the chapters see the environment ``asdlib`` is installed in.
    """
    import sys

    from .project import ROOT

    folder_given = any(a.split("=")[0] in ("--notebook-dir", "--ServerApp.root_dir") for a in extra)
    cmd = [sys.executable, "-m", "jupyterlab",
           *([] if folder_given else [f"--notebook-dir={ROOT / 'notebooks'}"]),
           f"--ContentsManager.pre_save_hook={__name__}.lab_pre_save"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # as root (a container, CI) JupyterLab refuses to start without it
    return [*cmd, *extra]
