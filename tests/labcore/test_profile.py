import pytest

from labcore.profile import PROFILE_NAMES, get_profile, resolve_profile_name


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv("LABCORE_PROFILE", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    return monkeypatch


def test_default_is_full(clean_env):
    assert resolve_profile_name() == "full"
    assert get_profile().designed_cnn_min_accuracy == 0.99


def test_nbgrader_execution_picks_grade(clean_env):
    clean_env.setenv("NBGRADER_EXECUTION", "autograde")
    assert resolve_profile_name() == "grade"


def test_environment_beats_nbgrader(clean_env):
    clean_env.setenv("NBGRADER_EXECUTION", "autograde")
    clean_env.setenv("LABCORE_PROFILE", "smoke")
    assert resolve_profile_name() == "smoke"


def test_explicit_argument_beats_everything(clean_env):
    clean_env.setenv("NBGRADER_EXECUTION", "validate")
    clean_env.setenv("LABCORE_PROFILE", "smoke")
    assert resolve_profile_name("full") == "full"
    assert get_profile(" Grade ").name == "grade"


@pytest.mark.parametrize("where", ["argument", "environment"])
def test_unknown_profile_is_a_clear_error(clean_env, where):
    if where == "environment":
        clean_env.setenv("LABCORE_PROFILE", "huge")
        call = get_profile
    else:

        def call():
            return get_profile("huge")

    with pytest.raises(ValueError, match=r"Unknown profile 'huge'.*smoke, grade, full"):
        call()


def test_profiles_grow_from_smoke_to_full(clean_env):
    smoke, grade, full = (get_profile(name) for name in PROFILE_NAMES)
    assert smoke.seed_cnn_epochs <= grade.seed_cnn_epochs <= full.seed_cnn_epochs
    assert smoke.mnist_train_size < grade.mnist_train_size and full.mnist_train_size is None
    assert smoke.xray_image_size < grade.xray_image_size < full.xray_image_size
    assert smoke.designed_cnn_min_accuracy < grade.designed_cnn_min_accuracy
    assert full.designed_cnn_min_accuracy == 0.99


def test_overrides_replace_fields_and_ignore_none(clean_env):
    profile = get_profile("smoke", seed_cnn_epochs=3, xray_epochs=None)
    assert profile.seed_cnn_epochs == 3
    assert profile.xray_epochs == get_profile("smoke").xray_epochs
    with pytest.raises(ValueError, match="no field"):
        get_profile("smoke", epochs=3)
