"""Seeds, quiet start-up and recorded results."""

import subprocess
import sys

import numpy as np
import pytest

from labcore import runtime


def test_set_seed_repeats_weights_and_numbers():
    import keras

    def draw():
        runtime.set_seed(7)
        layer = keras.layers.Dense(3)
        layer.build((None, 4))
        # set_seed seeds the global NumPy generator that legacy code uses
        return np.asarray(layer.kernel), np.random.rand(3)  # noqa: NPY002

    (w1, r1), (w2, r2) = draw(), draw()
    np.testing.assert_array_equal(w1, w2)
    np.testing.assert_array_equal(r1, r2)


def test_set_seed_rejects_bad_seeds():
    for bad in (-1, 1.5, "3"):
        with pytest.raises(ValueError, match="non-negative integer"):
            runtime.set_seed(bad)


@pytest.mark.slow
def test_quiet_import_filters_tensorflow_startup_noise():
    code = (
        "import os, sys; os.environ.pop('TF_CPP_MIN_LOG_LEVEL', None)\n"
        "from labcore import runtime\n"
        "keras = runtime.quiet_import_keras()\n"
        "print(keras.backend.backend())\n"
        "print('kept line', file=sys.stderr)\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "tensorflow"
    assert "absl::InitializeLog" not in result.stderr and "oneDNN" not in result.stderr
    assert "kept line" in result.stderr  # other output is not swallowed


def test_record_keeps_plain_values(capsys):
    results = runtime.record(test_accuracy=np.float32(0.98765432), epochs=np.int64(3))
    assert results["test_accuracy"] == round(float(np.float32(0.98765432)), 6)
    assert results["epochs"] == 3 and isinstance(results["epochs"], int)
    assert runtime.recorded()["epochs"] == 3


def test_device_info_names_backend_and_device():
    info = runtime.device_info()
    assert info["backend"] == "tensorflow"
    assert info["device"] in {"CPU", "GPU"}
    assert info["device_name"]
