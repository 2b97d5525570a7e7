"""Drive a notebook in JupyterLab the way a student does, in headless Debian Chromium.

:func:`chromium_page` starts ``/usr/bin/chromium`` (the Debian package; Playwright drives it,
it never downloads a browser) with a fresh profile and closes it on the way out.
:class:`NotebookPage` opens a notebook in JupyterLab and does what a student does: type an
answer into a cell, Run All, look at the outputs, press nbgrader's Validate and read the
result. Every check raises :class:`LabCheckError` (an ``AssertionError``) with a message
that says what was expected and what the page showed, so a test fails instead of hanging
or passing: each wait has a time limit.

Selectors are JupyterLab 4's and ``@jupyter/nbgrader`` 0.9's: the Validate button is the
toolbar item ``.validate-button``; its result is a dialog titled "Validation Results" whose
body carries ``validation-success``, ``validation-failed``, ``validation-changed`` or
``validation-type-changed``, or an error text ("There was an error running the validate
command").
"""

from __future__ import annotations

import json
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "LAB_SETTINGS",
    "LabCheckError",
    "NotebookPage",
    "RunResult",
    "ValidationResult",
    "chromium_page",
    "write_lab_settings",
]

#: The Debian package's browser (``apt-get install chromium``).
CHROMIUM = "/usr/bin/chromium"
#: Headless, offline-quiet, no sandbox (containers and CI run as root).
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
#: JupyterLab user settings for a test server: no news pop-up over the notebook (and no
#: request to the internet for it), and every cell attached to the page so cells can be
#: found by their index.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}
#: How a figure looks when it did not render as an image (matplotlib's text repr).
FIGURE_AS_TEXT = re.compile(r"<Figure size \d+(\.\d+)?x\d+(\.\d+)? with \d+ Axes>")
#: CSS class of the Validate dialog's body -> outcome.
VALIDATE_OUTCOMES = {
    "validation-success": "success",
    "validation-failed": "failed",
    "validation-changed": "changed",
    "validation-type-changed": "type changed",
    "validation-passed": "passed",
}


class LabCheckError(AssertionError):
    """JupyterLab did not show what a student should see."""


@dataclass(frozen=True)
class RunResult:
    """What Run All left in the notebook.

    Attributes
    ----------
    images : int
        Images in output areas that the browser decoded (``img`` with a natural width).
    broken_images : int
        ``img`` elements in output areas that did not decode.
    figures_as_text : list of str
        Outputs that show a figure as text (``<Figure size 640x480 with 1 Axes>``).
    errors : list of str
        Error outputs (exception name and message) in the saved notebook, in cell order.
    text : str
        All output text on the page.
    seconds : float
        How long the run took.
    """

    images: int
    broken_images: int
    figures_as_text: list[str]
    errors: list[str]
    text: str
    seconds: float


@dataclass(frozen=True)
class ValidationResult:
    """What nbgrader's Validate reported.

    Attributes
    ----------
    outcome : str
        ``"success"``, ``"failed"``, ``"changed"``, ``"type changed"``, ``"passed"`` or
        ``"error"`` (the validate command itself failed).
    title : str
        The dialog's title ("Validation Results").
    text : str
        The dialog's text.
    seconds : float
        From the click to the dialog.
    """

    outcome: str
    title: str
    text: str
    seconds: float


def write_lab_settings(settings_dir: Path, settings: dict | None = None) -> None:
    """Write JupyterLab user settings (``JUPYTERLAB_SETTINGS_DIR``) for a test server.

    Parameters
    ----------
    settings_dir : pathlib.Path
        The settings folder.
    settings : dict, optional
        ``relative file -> settings``; default :data:`LAB_SETTINGS`.
    """
    for relative, values in (settings or LAB_SETTINGS).items():
        path = Path(settings_dir) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=2), encoding="utf-8")


@contextmanager
def chromium_page(user_data_dir: Path, *, timeout_s: float = 30.0, viewport=(1280, 1400)):
    """A page in headless ``/usr/bin/chromium`` with a fresh profile, closed afterwards.

    Parameters
    ----------
    user_data_dir : pathlib.Path
        An empty folder for the browser profile.
    timeout_s : float, default=30
        Default limit for every page action and wait.
    viewport : tuple of int, default=(1280, 1400)
        Width and height of the page (and of the screenshots).

    Yields
    ------
    playwright.sync_api.Page
        The page.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(user_data_dir),
            executable_path=CHROMIUM,
            headless=True,
            args=list(CHROMIUM_ARGS),
            viewport={"width": viewport[0], "height": viewport[1]},
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(timeout_s * 1000)
            yield page
        finally:
            context.close()


_PROMPTS_JS = """
() => Array.from(document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt'))
      .map(node => node.textContent.trim())
"""
# the status bar item "<kernel> | <status>" (the toolbar's indicator reads "idle" before
# the kernel has even started)
_KERNEL_STATUS_JS = """
() => Array.from(document.querySelectorAll('.jp-StatusBar-Item'))
      .map(node => node.textContent.trim()).find(text => / [|] [A-Za-z ]+$/.test(text)) || null
"""
_IMAGES_JS = """
() => Array.from(document.querySelectorAll('.jp-Notebook .jp-OutputArea-output img'))
      .map(img => img.complete && img.naturalWidth > 0)
"""


class NotebookPage:
    """One notebook open in JupyterLab.

    Parameters
    ----------
    page : playwright.sync_api.Page
        From :func:`chromium_page`.
    url : str
        The notebook's address, token included.
    path : pathlib.Path
        The notebook file the server saves to (errors are read from it after a save).
    screenshots : pathlib.Path
        Folder for screenshots.
    """

    def __init__(self, page, url: str, path: Path, screenshots: Path):
        self.page = page
        self.url = url
        self.path = Path(path)
        self.screenshots = Path(screenshots)
        self.screenshots.mkdir(parents=True, exist_ok=True)

    # ----------------------------------------------------------------- opening

    def open(self, *, timeout_s: float = 90.0, wait_for_kernel: bool = True) -> None:
        """Open the notebook and wait until its kernel is idle.

        Parameters
        ----------
        timeout_s : float, default=90
            Limit for the page, the notebook and the kernel.
        wait_for_kernel : bool, default=True
            Wait for the kernel too (not only for the cells).

        Raises
        ------
        LabCheckError
            If the notebook or its kernel does not come up in time.
        """
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        self.page.goto(self.url, timeout=timeout_s * 1000)
        try:
            self.page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for(
                timeout=timeout_s * 1000
            )
        except PlaywrightTimeout:
            raise LabCheckError(
                f"JupyterLab did not show the notebook {self.path.name} within {timeout_s:.0f} s "
                f"(page title {self.page.title()!r})."
            ) from None
        if wait_for_kernel:
            self._wait_for_kernel_idle(timeout_s)

    def _kernel_status(self) -> str | None:
        """The status bar's kernel item, e.g. ``"Python 3 (ipykernel) | Idle"``."""
        return self.page.evaluate(_KERNEL_STATUS_JS)

    def _kernel_idle(self) -> bool:
        status = self._kernel_status() or ""
        return status.endswith("| Idle") and not status.startswith("No Kernel")

    def _wait_for_kernel_idle(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not self._kernel_idle():
            if time.monotonic() > deadline:
                raise LabCheckError(
                    f"The notebook's kernel was not idle within {timeout_s:.0f} s "
                    f"(status bar: {self._kernel_status()!r})."
                )
            time.sleep(0.25)

    def validate_button(self, *, timeout_s: float = 10.0):
        """nbgrader's Validate button in the notebook toolbar.

        Parameters
        ----------
        timeout_s : float, default=10
            How long to wait for it once the toolbar is there.

        Returns
        -------
        playwright.sync_api.Locator
            The button.

        Raises
        ------
        LabCheckError
            If the toolbar has no Validate button (the nbgrader lab extension is missing or
            disabled); the message lists the toolbar's items.
        """
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        toolbar = self.page.locator(".jp-NotebookPanel-toolbar").first
        toolbar.wait_for()
        button = toolbar.locator(".validate-button")
        try:
            button.first.wait_for(timeout=timeout_s * 1000)
        except PlaywrightTimeout:
            items = toolbar.locator(".jp-Toolbar-item").evaluate_all(
                "nodes => nodes.map(n => n.getAttribute('data-jp-item-name') || n.textContent)"
            )
            raise LabCheckError(
                "nbgrader's Validate button is not in the notebook toolbar: the @jupyter/nbgrader "
                "JupyterLab extension is missing or disabled (check `jupyter labextension list`"
                f"). Toolbar items: {[item.strip() for item in items if item and item.strip()]}"
            ) from None
        return button.first

    # ----------------------------------------------------------------- editing

    def cell(self, index: int):
        """A cell of the notebook, by its index in the file.

        Parameters
        ----------
        index : int
            0-based.

        Returns
        -------
        playwright.sync_api.Locator
            The cell widget.
        """
        return self.page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").nth(index)

    def cell_source(self, index: int) -> str:
        """The text in a cell's editor.

        Parameters
        ----------
        index : int
            0-based.

        Returns
        -------
        str
            The editor's lines, joined with newlines.
        """
        lines = self.cell(index).locator(".cm-content .cm-line").all_inner_texts()
        return "\n".join(line.replace("\u200b", "") for line in lines)

    def type_into_cell(self, index: int, text: str) -> None:
        """Replace a cell's text the way a student does: click, select all, type.

        Parameters
        ----------
        index : int
            0-based.
        text : str
            The new source.

        Raises
        ------
        LabCheckError
            If the editor does not end up holding exactly ``text``.
        """
        editor = self.cell(index).locator(".cm-content")
        editor.scroll_into_view_if_needed()
        editor.click()
        self.page.keyboard.press("ControlOrMeta+a")
        self.page.keyboard.press("Delete")
        self.page.keyboard.insert_text(text)
        self.page.keyboard.press("Escape")  # leave edit mode
        written = self.cell_source(index)
        if written.rstrip() != text.rstrip():
            raise LabCheckError(
                f"Cell {index} holds\n{written}\ninstead of what was typed:\n{text}"
            )

    # ----------------------------------------------------------------- running

    def _prompts(self) -> list[str]:
        return self.page.evaluate(_PROMPTS_JS)

    def run_all(self, *, timeout_s: float = 180.0) -> RunResult:
        """Run > Run All Cells, wait until the kernel is done, save, and collect the outputs.

        Parameters
        ----------
        timeout_s : float, default=180
            Limit for the whole run.

        Returns
        -------
        RunResult
            Images, figures shown as text, errors and output text.

        Raises
        ------
        LabCheckError
            If the run does not finish in time.
        """
        before = [int(n) for p in self._prompts() for n in re.findall(r"\[(\d+)\]", p)]
        highest = max(before, default=0)
        started = time.monotonic()
        self.page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
        self.page.locator(".lm-Menu-item", has_text="Run All Cells").first.click()
        deadline = started + timeout_s
        settled = 0
        while settled < 3:
            if time.monotonic() > deadline:
                raise LabCheckError(
                    f"Run All did not finish within {timeout_s:.0f} s; prompts: {self._prompts()}"
                )
            time.sleep(0.5)
            prompts = self._prompts()
            counts = [int(n) for p in prompts for n in re.findall(r"\[(\d+)\]", p)]
            done = (
                not any("*" in p for p in prompts)
                and max(counts, default=0) > highest
                and self._kernel_idle()
            )
            settled = settled + 1 if done else 0
        seconds = time.monotonic() - started
        self.save()
        images = self.page.evaluate(_IMAGES_JS)
        outputs = self.page.locator(".jp-Notebook .jp-OutputArea-output").all_inner_texts()
        text = "\n".join(outputs)
        return RunResult(
            images=sum(images),
            broken_images=len(images) - sum(images),
            figures_as_text=[match.group(0) for match in FIGURE_AS_TEXT.finditer(text)],
            errors=self._saved_errors(),
            text=text,
            seconds=seconds,
        )

    def save(self, *, timeout_s: float = 30.0) -> None:
        """Save the notebook with the toolbar's save button; wait until the file is written.

        Parameters
        ----------
        timeout_s : float, default=30
            Limit for the save.

        Raises
        ------
        LabCheckError
            If the file is not written in time.
        """
        before = self.path.stat().st_mtime_ns if self.path.exists() else 0
        toolbar = self.page.locator(".jp-NotebookPanel-toolbar").first
        toolbar.locator("[data-jp-item-name='save']").first.click()
        deadline = time.monotonic() + timeout_s
        while not self.path.exists() or self.path.stat().st_mtime_ns == before:
            if time.monotonic() > deadline:
                raise LabCheckError(f"JupyterLab did not save {self.path} within {timeout_s} s.")
            time.sleep(0.25)

    def _saved_errors(self) -> list[str]:
        notebook = json.loads(self.path.read_text(encoding="utf-8"))
        return [
            f"cell {index}: {output.get('ename')}: {output.get('evalue')}"
            for index, cell in enumerate(notebook.get("cells", []))
            for output in cell.get("outputs", []) or []
            if output.get("output_type") == "error"
        ]

    # ----------------------------------------------------------------- validating

    def validate(self, *, timeout_s: float = 180.0) -> ValidationResult:
        """Press Validate and read the dialog it opens (:meth:`close_dialog` closes it).

        Parameters
        ----------
        timeout_s : float, default=180
            Limit from the click to the dialog.

        Returns
        -------
        ValidationResult
            The outcome and the dialog's text.

        Raises
        ------
        LabCheckError
            If there is no Validate button, or no result dialog appears in time.
        """
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        button = self.validate_button()
        started = time.monotonic()
        button.click()
        dialog = self.page.locator(".jp-Dialog").first
        try:
            dialog.wait_for(timeout=timeout_s * 1000)
        except PlaywrightTimeout:
            raise LabCheckError(
                f"Validate did not report within {timeout_s:.0f} s (no dialog appeared)."
            ) from None
        seconds = time.monotonic() - started
        title = dialog.locator(".jp-Dialog-header").inner_text().strip()
        body = dialog.locator(".jp-Dialog-body")
        classes = (body.get_attribute("class") or "").split()
        outcome = next((name for css, name in VALIDATE_OUTCOMES.items() if css in classes), "error")
        return ValidationResult(outcome, title, body.inner_text().strip(), seconds)

    def close_dialog(self) -> None:
        """Close an open dialog with its OK button."""
        dialog = self.page.locator(".jp-Dialog").first
        dialog.locator("button.jp-mod-accept").first.click()
        dialog.wait_for(state="detached")

    # ----------------------------------------------------------------- pictures

    def screenshot(self, name: str, *, scroll_to=None) -> Path:
        """Save a screenshot of the page under the screenshots folder.

        Parameters
        ----------
        name : str
            File name, e.g. ``"01-notebook-opened.png"``.
        scroll_to : playwright.sync_api.Locator, optional
            Something to bring into view first.

        Returns
        -------
        pathlib.Path
            The PNG.
        """
        if scroll_to is not None:
            scroll_to.scroll_into_view_if_needed()
        path = self.screenshots / name
        self.page.screenshot(path=str(path))
        return path

    def last_image(self):
        """The last image in an output area (to scroll to for a screenshot), or ``None``.

        Returns
        -------
        playwright.sync_api.Locator or None
            The image.
        """
        images = self.page.locator(".jp-Notebook .jp-OutputArea-output img")
        return images.last if images.count() else None
