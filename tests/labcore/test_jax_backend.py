"""The GPU runners' path: Keras on JAX, with TensorFlow not importable at all.

TensorFlow is installed here, so it is blocked: a ``sitecustomize.py`` on ``PYTHONPATH``
puts a finder in front of ``sys.meta_path`` that refuses ``tensorflow`` (and its
sub-modules) with ``ModuleNotFoundError``. Every Python process started with
:func:`without_tensorflow`'s environment (subprocesses, papermill workers and their kernels)
then behaves as on a machine without TensorFlow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from grading.paths import course_paths
from grading.runner.run import run_notebooks

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "runner"
BLOCKED = "TensorFlow is blocked for this test"

SITECUSTOMIZE = f'''\
"""Written by tests/labcore/test_jax_backend.py: TensorFlow cannot be imported in this process."""

import importlib.abc
import sys


class BlockTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ModuleNotFoundError(f"No module named {{name!r}} ({BLOCKED})", name=name)
        return None


sys.meta_path.insert(0, BlockTensorFlow())
'''

# Course notebooks that must run on JAX without TensorFlow (picked up once they exist).
JAX_COURSE_NOTEBOOKS = ["02_mnist/mnist_cnn.ipynb", "03_xray/xray_pneumonia.ipynb"]


@pytest.fixture(scope="module")
def without_tensorflow(tmp_path_factory) -> dict[str, str]:
    """Environment variables for processes on Keras/JAX with TensorFlow blocked."""
    folder = tmp_path_factory.mktemp("block-tensorflow")
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    pythonpath = os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": pythonpath, "KERAS_BACKEND": "jax"}


def _python(code: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_block_makes_tensorflow_unimportable(without_tensorflow):
    result = _python("import tensorflow", without_tensorflow)
    assert result.returncode != 0
    assert "ModuleNotFoundError" in result.stderr and BLOCKED in result.stderr


def _tiny_image_folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for split, count in (("train", 6), ("test", 2)):
        for class_name in ("NORMAL", "PNEUMONIA"):
            folder = root / split / class_name
            folder.mkdir(parents=True)
            for index in range(count):
                pixels = rng.integers(0, 256, size=(12, 12), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{index}.png")
    return root


LOAD_IMAGES = """\
import json, sys
import labcore.data, labcore.runtime

images = labcore.data.load_image_folder(
    sys.argv[1], image_size=8, batch_size=4, validation_split=0.25, seed=0
)
batch, labels = next(iter(images.train))
print(json.dumps({
    "backend": labcore.runtime.keras_backend(),
    "format": images.format,
    "batch_shape": list(batch.shape),
    "labels": sorted(set(int(label) for label in labels)),
    "class_names": images.class_names,
    "test_images": sum(int(b.shape[0]) for b, _ in images.test),
    "tensorflow_imported": "tensorflow" in sys.modules,
}))
"""


@pytest.mark.slow
def test_labcore_loads_an_image_folder_without_tensorflow(tmp_path, without_tensorflow):
    folder = _tiny_image_folder(tmp_path / "xray")
    result = _python(LOAD_IMAGES, without_tensorflow, str(folder))
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout.strip().splitlines()[-1])
    assert facts["backend"] == "jax" and facts["format"] == "grain"
    assert facts["batch_shape"] == [4, 8, 8, 1]
    assert set(facts["labels"]) <= {0, 1}
    assert facts["class_names"] == ["NORMAL", "PNEUMONIA"]
    assert facts["test_images"] == 4
    assert facts["tensorflow_imported"] is False


@pytest.mark.slow
def test_fixture_notebooks_run_on_jax_without_tensorflow(tmp_path, without_tensorflow):
    summary = run_notebooks(
        [
            FIXTURES / "01_parameters" / "parameters.ipynb",
            FIXTURES / "06_keras_runtime" / "keras_runtime.ipynb",
            FIXTURES / "07_import_tensorflow" / "import_tensorflow.ipynb",
        ],
        profile="smoke",
        jobs=2,
        env=without_tensorflow,
        output_dir=tmp_path,
        progress=False,
    )
    light, keras_notebook, blocked = summary.results
    assert light.ok, light.problem()
    assert keras_notebook.ok, keras_notebook.problem()
    assert keras_notebook.backend == "jax" and keras_notebook.metrics["backend_seen"] == "jax"
    assert keras_notebook.device in {"CPU", "GPU"} and keras_notebook.device_name
    assert keras_notebook.metrics["total"] == 6.0
    # the block holds inside the kernels: importing TensorFlow fails there
    assert blocked.status == "failed"
    assert blocked.error.ename == "ModuleNotFoundError" and BLOCKED in blocked.error.evalue
    assert json.loads((tmp_path / "summary.json").read_text())["notebooks"][1]["backend"] == "jax"


@pytest.mark.slow
@pytest.mark.parametrize("relative", JAX_COURSE_NOTEBOOKS)
def test_course_notebook_runs_on_jax_without_tensorflow(relative, tmp_path, without_tensorflow):
    notebook = course_paths().notebooks / relative
    assert notebook.is_file(), f"{notebook} is missing"
    summary = run_notebooks(
        [notebook], profile="smoke", env=without_tensorflow, output_dir=tmp_path, progress=False
    )
    result = summary.results[0]
    assert result.ok, result.problem()
    assert result.backend == "jax"
    assert result.metrics, "the notebook recorded no metrics (labcore.runtime.record)"
