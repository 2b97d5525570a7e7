"""Where the student kit is published and where students are: settings and links.

The settings come from the ``[kit]`` table of the course file ``cnnlab.toml`` (all keys
optional); a command-line option wins over the file::

    [kit]
    github_repo = "my-org/cnn-course-kit"   # the kit's GitHub repository: Colab/Binder links
    branch = "main"                         # its branch
    wheel_url = "https://.../cnnlab_labcore-0.1.0-py3-none-any.whl"  # or a git+https URL
    exchange_dir = "/srv/nbgrader/exchange" # nbgrader's exchange on the JupyterHub
    hub_url = "https://hub.example.edu"     # the JupyterHub, for nbgitpuller links
    git_url = "https://github.com/my-org/cnn-course-kit"  # what the hub clones

Without ``wheel_url`` the kit's installer cell takes the wheel from ``github_repo`` (raw
file of ``wheels/`` on ``branch``). This module also writes the links students follow
(Colab, Binder, nbgitpuller) and the kit's student README.
"""

from __future__ import annotations

import argparse
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import quote, urlencode

from grading.errors import BadInput
from grading.paths import COURSE_FILE, CoursePaths

__all__ = [
    "WHEELS_DIR",
    "KitSettings",
    "add_exchange_option",
    "colab_link",
    "configured_exchange_dir",
    "load_kit_settings",
    "nbgitpuller_link",
    "student_readme",
]

#: The kit's folder of wheels (labcore's).
WHEELS_DIR = "wheels"


@dataclass(frozen=True)
class KitSettings:
    """Where the kit is published and where students are.

    Attributes
    ----------
    github_repo : str or None
        ``owner/name`` of the kit's GitHub repository (Colab and Binder links).
    branch : str
        Its branch.
    wheel_url : str or None
        Where the installer cell fetches labcore (a wheel URL or a ``git+https`` URL);
        default the wheel in ``github_repo``.
    exchange_dir : pathlib.Path
        nbgrader's exchange directory on the JupyterHub.
    hub_url : str or None
        The JupyterHub's address, for nbgitpuller links.
    git_url : str or None
        The kit repository as the hub clones it; default ``https://github.com/<github_repo>``.
    """

    github_repo: str | None = None
    branch: str = "main"
    wheel_url: str | None = None
    exchange_dir: Path = Path("/srv/nbgrader/exchange")
    hub_url: str | None = None
    git_url: str | None = None

    def clone_url(self, repository: Path) -> str:
        """What the hub clones: ``git_url``, else ``github_repo`` on GitHub, else the folder.

        Parameters
        ----------
        repository : pathlib.Path
            The local kit repository (``cnnlab kit --git DIR``).

        Returns
        -------
        str
            A URL, or the folder's path (a hub on this machine can clone that).
        """
        if self.git_url:
            return self.git_url
        if self.github_repo:
            return f"https://github.com/{self.github_repo}"
        return str(repository)

    def labcore_url(self, wheel_name: str) -> str | None:
        """Where a notebook outside the kit installs labcore from.

        Parameters
        ----------
        wheel_name : str
            The file name of the kit's wheel.

        Returns
        -------
        str or None
            ``wheel_url``, else the wheel's raw URL in ``github_repo``, else None.
        """
        if self.wheel_url:
            return self.wheel_url
        if self.github_repo:
            return (
                f"https://raw.githubusercontent.com/{self.github_repo}/{self.branch}/"
                f"{WHEELS_DIR}/{wheel_name}"
            )
        return None


def load_kit_settings(paths: CoursePaths, **overrides) -> KitSettings:
    """The course's kit settings: ``cnnlab.toml`` ``[kit]``, then ``overrides``.

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course; its root may hold ``cnnlab.toml``.
    **overrides
        Settings from the command line; None means "not given".

    Returns
    -------
    KitSettings
        The settings.

    Raises
    ------
    ValueError
        If ``cnnlab.toml`` is not TOML or its ``[kit]`` table has an unknown key or a value
        that is not a string; the message names the file and the key.
    """
    known = {field.name for field in fields(KitSettings)}
    values: dict = {}
    settings_file = paths.root / COURSE_FILE
    if settings_file.is_file():
        try:
            table = tomllib.loads(settings_file.read_text(encoding="utf-8")).get("kit", {})
        except tomllib.TOMLDecodeError as error:
            raise BadInput(f"{settings_file}: not valid TOML ({error}).") from None
        for key, value in table.items():
            if key not in known:
                raise BadInput(
                    f"{settings_file}: unknown setting {key!r} in [kit]; "
                    f"known: {', '.join(sorted(known))}."
                )
            if not isinstance(value, str):
                raise BadInput(f"{settings_file}: [kit] {key} must be a string, not {value!r}.")
            values[key] = value
    values.update({key: value for key, value in overrides.items() if value is not None})
    if "exchange_dir" in values:
        values["exchange_dir"] = Path(values["exchange_dir"]).expanduser()
    return KitSettings(**values)


def colab_link(settings: KitSettings, notebook: str) -> str | None:
    """The "Open in Colab" address of a kit notebook.

    Parameters
    ----------
    settings : KitSettings
        Needs ``github_repo``.
    notebook : str
        The notebook's path in the kit, e.g. ``"02_mnist/mnist_cnn.ipynb"``.

    Returns
    -------
    str or None
        ``https://colab.research.google.com/github/<repo>/blob/<branch>/<notebook>``, or
        None without a GitHub repository.
    """
    if not settings.github_repo:
        return None
    return (
        f"https://colab.research.google.com/github/{settings.github_repo}/blob/"
        f"{settings.branch}/{quote(notebook)}"
    )


def student_readme(settings: KitSettings, notebooks: list[str], labcore_url: str | None) -> str:
    """The kit's ``README.md``: install, open, Validate, submit, and the cloud links.

    Parameters
    ----------
    settings : KitSettings
        For the Colab and Binder links.
    notebooks : list of str
        The kit's notebooks, relative to the kit (``"02_mnist/mnist_cnn.ipynb"``).
    labcore_url : str or None
        Where the installer cell installs labcore from outside the kit.

    Returns
    -------
    str
        Markdown.
    """
    rows = []
    for notebook in notebooks:
        link = colab_link(settings, notebook)
        colab = f"[Open in Colab]({link})" if link else "(no Colab link: no GitHub repository set)"
        rows.append(f"| `{notebook}` | {colab} |")
    binder = ""
    if settings.github_repo:
        binder = (
            f"\n[Launch on Binder](https://mybinder.org/v2/gh/{settings.github_repo}/"
            f"{settings.branch}?urlpath=lab) builds this folder from `environment.yml`.\n"
        )
    source = labcore_url or "the kit's `wheels/` folder"
    return f"""# CNN Lab: your assignments

This folder is all you need for the assignments below: their notebooks, the course
library `labcore` (in `wheels/`) and the settings of the **Validate** button.

| notebook | in the cloud |
|---|---|
{chr(10).join(rows)}

## Install (once)

Python 3.11 (3.12 and 3.13 work too) and about 2 GB of disk. In this folder:

```bash
python3 -m venv .venv
.venv/bin/pip install -r requirements.txt        # Windows: .venv\\Scripts\\pip ...
```

With conda instead: `conda env create -f environment.yml && conda activate cnnlab-student`.

## Open

```bash
.venv/bin/jupyter lab                            # in this folder
```

Open an assignment's notebook and run it from the top. Datasets download on first use
(checksums verified) into `~/.cache/cnnlab`; `LABCORE_DATA_DIR` puts them elsewhere.

## Validate

The notebook toolbar's **Validate** button runs your notebook from the top in a fresh
kernel and reports "Success! Your notebook passes all the tests." or each failing test. It
runs the visible tests only; hidden tests run when your work is graded. Start JupyterLab in
this folder so that Validate reads `nbgrader_config.py` (cells may run up to 15 minutes).
Without JupyterLab: `nbgrader validate 02_mnist/mnist_cnn.ipynb`.

## Submit

Hand in the notebook file (`.ipynb`) as your course says: upload it to the course page, or
on the course's JupyterHub use the *Assignments* tab's **Submit**. Do not rename it.

## Colab and Binder

Each notebook's first cell installs `labcore` when it is missing (from {source}); on your
own computer it does nothing. Validate is not available on Colab: run the whole notebook and
check that every test cell passes.
{binder}"""


def nbgitpuller_link(settings: KitSettings, repository: str, start: str | None = None) -> str:
    """The nbgitpuller link that pulls the kit into a student's JupyterHub home.

    Parameters
    ----------
    settings : KitSettings
        ``hub_url`` (default ``http://localhost:8000``) and ``branch``.
    repository : str
        What the hub clones (a URL; a local path on a single-machine hub).
    start : str, optional
        A file in the kit to open, e.g. ``"02_mnist/mnist_cnn.ipynb"``.

    Returns
    -------
    str
        ``<hub>/hub/user-redirect/git-pull?repo=...&branch=...&urlpath=lab/tree/<folder>``.
    """
    hub = (settings.hub_url or "http://localhost:8000").rstrip("/")
    folder = repository.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
    urlpath = f"lab/tree/{folder}" + (f"/{start}" if start else "")
    query = urlencode({"repo": repository, "branch": settings.branch, "urlpath": urlpath})
    return f"{hub}/hub/user-redirect/git-pull?{query}"


def add_exchange_option(parser: argparse.ArgumentParser, purpose: str) -> None:
    """Add ``--exchange [DIR]``: nbgrader's exchange on JupyterHub (``release``, ``collect``).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    purpose : str
        What the command does through the exchange, e.g. ``"also publish"``.
    """
    parser.add_argument(
        "--exchange",
        nargs="?",
        const="",
        metavar="DIR",
        help=f"{purpose} through nbgrader's exchange for JupyterHub (default DIR: "
        f"exchange_dir of {COURSE_FILE} [kit], else {KitSettings.exchange_dir})",
    )


def configured_exchange_dir(paths: CoursePaths, option: str | None) -> Path:
    """The exchange directory for ``--exchange [DIR]``.

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course (its ``cnnlab.toml``).
    option : str or None
        The option's value; empty (``--exchange`` alone) or None for the course setting.

    Returns
    -------
    pathlib.Path
        ``DIR``, else ``exchange_dir`` of ``[kit]``, else ``/srv/nbgrader/exchange``.
    """
    return load_kit_settings(paths, exchange_dir=option or None).exchange_dir
