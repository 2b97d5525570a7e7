"""The course's CNN architectures, as functions that build them.

Every builder returns a fresh, *uncompiled* Keras model (except :func:`cnn_from_hparams`,
which also compiles, because the optimizer is one of its hyperparameters). Layers have
names, so ``model.summary()`` reads like the lecture slides and ``model.get_layer("conv1")``
finds a layer for the filter and feature-map plots.

The published architectures and their parameter counts (you can derive every number with
:mod:`labcore.theory`):

:func:`seed_cnn`: 27,562 parameters
    Conv(8) → Pool → Conv(16) → Pool → Flatten → Dense(64) → Dropout(0.2) → Dense(10)
:func:`deeper_cnn`: its parameters are counted in notebook 02, Exercise 4
    Conv(32) → Pool → Conv(64) → Pool → Conv(64) → Flatten → Dense(64) → Dense(10)
:func:`conv32_dense100`: the course material's model for the SGD-with-momentum comparison
    Conv(32) → Pool → Flatten → Dense(100) → Dense(10)
:func:`xray_cnn`: 63,000,001 parameters at 250×250×3 (62,999,425 at 250×250×1)
    Rescaling → Conv(32, same) → Pool → Conv(64, same) → Pool → Flatten → Dropout(0.5) →
    Dense(256) → Dropout(0.5) → Dense(1)
:func:`pneumonia_cnn`: 35,409 parameters at 28×28×1 (PneumoniaMNIST)
    Rescaling → 2 × Conv(16)+BN → Pool → 2 × Conv(32)+BN → Pool → Conv(64)+BN →
    GlobalAveragePooling → Dropout(0.3) → Dense(1)

Look at the X-ray model's count: 62,980,352 of its 63 million parameters sit in the one
Dense layer after ``Flatten``, because ``"same"`` padding keeps the 250×250 image large
(62×62×64 = 246,016 features reach that layer). The convolutions themselves need fewer
than 20,000. :func:`fast_cnn` goes the other way: batch normalisation and global average
pooling instead of a big Dense layer give a model with under 25,000 parameters that reaches
99 % on MNIST in two epochs.

All builders use ``keras`` only, so they work on every Keras backend.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import keras
import numpy as np

__all__ = [
    "FAST_CNN_RECIPE",
    "HPARAM_DEFAULTS",
    "IGNORED_HPARAMS",
    "OPTIMIZERS",
    "PNEUMONIA_CNN_RECIPE",
    "FastCNNRecipe",
    "cnn_from_hparams",
    "compile_fast_cnn",
    "conv32_dense100",
    "deeper_cnn",
    "fast_cnn",
    "pneumonia_cnn",
    "seed_cnn",
    "xray_augmentation",
    "xray_cnn",
]

layers = keras.layers


# --------------------------------------------------------------------------- argument checks


def _input_shape(input_shape) -> tuple[int, int, int]:
    """Check an ``(height, width, channels)`` shape and return it as a tuple of ints."""
    shape = tuple(input_shape) if not isinstance(input_shape, str) else ()
    if len(shape) != 3 or not all(_is_whole(v) and v >= 1 for v in shape):
        raise ValueError(
            f"input_shape must be (height, width, channels) of positive ints, e.g. (28, 28, 1); "
            f"got {input_shape!r}"
        )
    return tuple(int(v) for v in shape)


def _num_classes(num_classes, minimum: int = 2) -> int:
    if not _is_whole(num_classes) or num_classes < minimum:
        raise ValueError(
            f"num_classes must be an integer of at least {minimum}, got {num_classes!r}"
        )
    return int(num_classes)


def _is_whole(value) -> bool:
    """True for ints (also NumPy ints, and floats such as 32.0 read back from a CSV)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, numbers.Integral):
        return True
    return isinstance(value, numbers.Real) and float(value).is_integer()


# --------------------------------------------------------------------------- published models


def seed_cnn(input_shape=(28, 28, 1), num_classes: int = 10) -> keras.Sequential:
    """The course's seed model for MNIST (notebook 02): 27,562 parameters on 28×28×1.

    Conv2D(8, 3×3, valid, relu) → MaxPooling2D(2) → Conv2D(16, 3×3, valid, relu) →
    MaxPooling2D(2) → Flatten → Dense(64, relu) → Dropout(0.2) → Dense(10, softmax).

    Parameters
    ----------
    input_shape : tuple of int, default=(28, 28, 1)
        ``(height, width, channels)`` of one image.
    num_classes : int, default=10
        Units of the softmax output layer.

    Returns
    -------
    keras.Sequential
        Uncompiled; layers named ``conv1, pool1, conv2, pool2, flatten, dense, dropout,
        output``. Parameters per layer: 80 + 1,168 + 25,664 + 650.
    """
    return keras.Sequential(
        [
            keras.Input(shape=_input_shape(input_shape)),
            layers.Conv2D(8, 3, padding="valid", activation="relu", name="conv1"),
            layers.MaxPooling2D(2, name="pool1"),
            layers.Conv2D(16, 3, padding="valid", activation="relu", name="conv2"),
            layers.MaxPooling2D(2, name="pool2"),
            layers.Flatten(name="flatten"),
            layers.Dense(64, activation="relu", name="dense"),
            layers.Dropout(0.2, name="dropout"),
            layers.Dense(_num_classes(num_classes), activation="softmax", name="output"),
        ],
        name="seed_cnn",
    )


def deeper_cnn(input_shape=(28, 28, 1), num_classes: int = 10) -> keras.Sequential:
    """The deeper MNIST model of the course material (notebook 02 counts its parameters).

    Conv2D(32, 3×3, relu) → MaxPooling2D(2) → Conv2D(64, 3×3, relu) → MaxPooling2D(2) →
    Conv2D(64, 3×3, relu) → Flatten → Dense(64, relu) → Dense(10, softmax); all
    convolutions use ``"valid"`` padding.

    Parameters
    ----------
    input_shape : tuple of int, default=(28, 28, 1)
        ``(height, width, channels)`` of one image.
    num_classes : int, default=10
        Units of the softmax output layer.

    Returns
    -------
    keras.Sequential
        Uncompiled; layers named ``conv1, pool1, conv2, pool2, conv3, flatten, dense,
        output``.
    """
    return keras.Sequential(
        [
            keras.Input(shape=_input_shape(input_shape)),
            layers.Conv2D(32, 3, activation="relu", name="conv1"),
            layers.MaxPooling2D(2, name="pool1"),
            layers.Conv2D(64, 3, activation="relu", name="conv2"),
            layers.MaxPooling2D(2, name="pool2"),
            layers.Conv2D(64, 3, activation="relu", name="conv3"),
            layers.Flatten(name="flatten"),
            layers.Dense(64, activation="relu", name="dense"),
            layers.Dense(_num_classes(num_classes), activation="softmax", name="output"),
        ],
        name="deeper_cnn",
    )


def conv32_dense100(input_shape=(28, 28, 1), num_classes: int = 10) -> keras.Sequential:
    """The course material's one-convolution MNIST model (notebook 02's optimizer comparison).

    Conv2D(32, 3×3, valid, relu, He-uniform weights) → MaxPooling2D(2) → Flatten →
    Dense(100, relu, He-uniform weights) → Dense(10, softmax). The course material trains
    it with SGD (learning rate 0.01, momentum 0.9); notebook 02 compares that with Adam.

    Parameters
    ----------
    input_shape : tuple of int, default=(28, 28, 1)
        ``(height, width, channels)`` of one image.
    num_classes : int, default=10
        Units of the softmax output layer.

    Returns
    -------
    keras.Sequential
        Uncompiled; layers named ``conv1, pool1, flatten, dense, output``.
    """
    return keras.Sequential(
        [
            keras.Input(shape=_input_shape(input_shape)),
            layers.Conv2D(32, 3, activation="relu", kernel_initializer="he_uniform", name="conv1"),
            layers.MaxPooling2D(2, name="pool1"),
            layers.Flatten(name="flatten"),
            layers.Dense(100, activation="relu", kernel_initializer="he_uniform", name="dense"),
            layers.Dense(_num_classes(num_classes), activation="softmax", name="output"),
        ],
        name="conv32_dense100",
    )


def xray_cnn(image_size=250, channels: int = 3, augmentation=None) -> keras.Sequential:
    """The chest X-ray pneumonia classifier of notebook 03 (binary: normal / pneumonia).

    [augmentation →] Rescaling(1/255) → Conv2D(32, 3×3, same, relu) → MaxPooling2D(2) →
    Conv2D(64, 3×3, same, relu) → MaxPooling2D(2) → Flatten → Dropout(0.5) →
    Dense(256, relu) → Dropout(0.5) → Dense(1, sigmoid).

    At 250×250×3 it has 63,000,001 parameters: 896 + 18,496 + 62,980,352 + 257. With
    grayscale input (250×250×1) the first convolution has 3×3×1×32 + 32 = 320 weights
    instead of 896, so the model has 62,999,425: only the first layer sees the channels.

    Parameters
    ----------
    image_size : int or (int, int), default=250
        Image height and width (an int means a square).
    channels : int, default=3
        3 for images loaded as RGB, 1 for grayscale.
    augmentation : keras.layers.Layer, optional
        Applied right after the input, before rescaling, so it sees pixel values 0-255
        (e.g. :func:`xray_augmentation`). Keras' random preprocessing layers change images
        only while training; at evaluation and prediction they pass images through
        unchanged.

    Returns
    -------
    keras.Sequential
        Uncompiled; layers named ``[augmentation,] rescaling, conv1, pool1, conv2, pool2,
        flatten, dropout1, dense, dropout2, output``. The input is raw pixels (0-255), as
        ``keras.utils.image_dataset_from_directory`` yields them.
    """
    if isinstance(image_size, numbers.Number):
        image_size = (image_size, image_size)
    height, width, channels = _input_shape((*image_size, channels))
    if augmentation is not None and not isinstance(augmentation, layers.Layer):
        raise ValueError(
            f"augmentation must be a Keras layer (or a keras.Sequential of layers), got "
            f"{type(augmentation).__name__}; build one with labcore.models.xray_augmentation()"
        )
    preprocessing = [augmentation] if augmentation is not None else []
    return keras.Sequential(
        [
            keras.Input(shape=(height, width, channels)),
            *preprocessing,
            layers.Rescaling(1.0 / 255, name="rescaling"),
            layers.Conv2D(32, 3, padding="same", activation="relu", name="conv1"),
            layers.MaxPooling2D(2, name="pool1"),
            layers.Conv2D(64, 3, padding="same", activation="relu", name="conv2"),
            layers.MaxPooling2D(2, name="pool2"),
            layers.Flatten(name="flatten"),
            layers.Dropout(0.5, name="dropout1"),
            layers.Dense(256, activation="relu", name="dense"),
            layers.Dropout(0.5, name="dropout2"),
            layers.Dense(1, activation="sigmoid", name="output"),
        ],
        name="xray_cnn",
    )


def xray_augmentation(
    seed: int = 42, zoom: float = 0.1, rotation: float = 0.03, contrast: float = 0.1
) -> keras.Sequential:
    """Random zoom, small rotations and contrast changes for chest X-rays; no flips.

    Augmentation should only produce images the model could really meet. Chest X-rays are
    taken in a standard position, so:

    * **No vertical flips.** Anatomy is never upside down on a chest film (the lungs sit
      above the diaphragm, the shoulders at the top). A model trained on flipped images
      spends capacity on an invariance that never occurs, and can learn to ignore the
      very up-down cues that help it.
    * **No horizontal flips either (questionable at best).** The heart lies on the left
      of the patient (right side of the image); mirroring produces an anatomy that is
      vanishingly rare (situs inversus) and may be a sign of disease in itself. Films
      also carry side markers ("L"/"R") and text that would read backwards.
    * **Small zoom and rotation** imitate differences in distance and positioning between
      patients and machines; **contrast** imitates differences in exposure.

    Empty borders created by zooming out or rotating are filled with black (``constant``
    0), like the background of an X-ray, instead of Keras' default mirror reflection,
    which would add mirrored anatomy at the edges.

    Parameters
    ----------
    seed : int, default=42
        Seed of the first layer; the others use ``seed + 1`` and ``seed + 2``.
    zoom : float, default=0.1
        Zoom in or out by up to this fraction (``RandomZoom`` height and width factor).
    rotation : float, default=0.03
        Rotate by up to this fraction of a full turn: 0.03 × 360° ≈ ±11°.
    contrast : float, default=0.1
        Change the contrast by a factor drawn from ``[1 - contrast, 1 + contrast]``.

    Returns
    -------
    keras.Sequential
        Layers ``random_zoom, random_rotation, random_contrast`` (model name
        ``augmentation``). Active only in training (``model.fit``, or ``training=True``);
        identity otherwise. Expects pixel values 0-255.
    """
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    for name, value, limit in (("zoom", zoom, 0.5), ("rotation", rotation, 0.1)):
        if not isinstance(value, numbers.Real) or not 0 <= value <= limit:
            raise ValueError(f"{name} must be a number between 0 and {limit}, got {value!r}")
    if not isinstance(contrast, numbers.Real) or not 0 <= contrast < 1:
        raise ValueError(f"contrast must be a number in [0, 1), got {contrast!r}")
    return keras.Sequential(
        [
            layers.RandomZoom(zoom, fill_mode="constant", seed=seed, name="random_zoom"),
            layers.RandomRotation(
                rotation, fill_mode="constant", seed=seed + 1, name="random_rotation"
            ),
            layers.RandomContrast(contrast, seed=seed + 2, name="random_contrast"),
        ],
        name="augmentation",
    )


# --------------------------------------------------------------------------- fast CNN


@dataclass(frozen=True)
class FastCNNRecipe:
    """How :func:`fast_cnn` is trained: one place for the benchmark and notebook 02.

    The learning rate follows a *one-cycle* schedule: it rises linearly from
    ``peak_learning_rate / 10`` to ``peak_learning_rate`` over the first
    ``warmup_fraction`` of all steps, then falls along a cosine to
    ``peak_learning_rate · final_fraction``. The warm-up lets batch normalisation settle
    before the big steps; the long decay lets the weights settle at the end of the very few
    epochs.

    Attributes
    ----------
    batch_size : int
        Images per training step.
    epochs : int
        Passes over the 60,000 training images.
    optimizer : str
        ``"adam"``.
    peak_learning_rate : float
        Highest learning rate, reached at the end of the warm-up.
    warmup_fraction : float
        Share of all training steps spent warming up.
    final_fraction : float
        Last learning rate as a fraction of the peak.
    """

    batch_size: int = 128
    epochs: int = 2
    optimizer: str = "adam"
    peak_learning_rate: float = 1e-2
    warmup_fraction: float = 0.25
    final_fraction: float = 0.01

    def steps_per_epoch(self, train_size: int) -> int:
        """Training steps in one epoch of ``train_size`` images.

        Parameters
        ----------
        train_size : int
            Number of training images.

        Returns
        -------
        int
            ``ceil(train_size / batch_size)``.
        """
        if not _is_whole(train_size) or train_size < 1:
            raise ValueError(f"train_size must be a positive integer, got {train_size!r}")
        return math.ceil(int(train_size) / self.batch_size)

    def learning_rate_schedule(
        self, steps_per_epoch: int, epochs: int | None = None
    ) -> keras.optimizers.schedules.LearningRateSchedule:
        """The one-cycle schedule for a run of ``epochs`` epochs.

        Parameters
        ----------
        steps_per_epoch : int
            Training steps per epoch (see :meth:`steps_per_epoch`).
        epochs : int, optional
            Length of the run; by default :attr:`epochs`.

        Returns
        -------
        keras.optimizers.schedules.CosineDecay
            Linear warm-up, then cosine decay (Keras' ``CosineDecay`` with
            ``warmup_target``).
        """
        epochs = self.epochs if epochs is None else epochs
        for name, value in (("steps_per_epoch", steps_per_epoch), ("epochs", epochs)):
            if not _is_whole(value) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        total_steps = int(steps_per_epoch) * int(epochs)
        warmup_steps = int(self.warmup_fraction * total_steps)
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=self.peak_learning_rate / 10,
            warmup_target=self.peak_learning_rate,
            warmup_steps=warmup_steps,
            decay_steps=max(total_steps - warmup_steps, 1),
            alpha=self.final_fraction,
        )


#: The recipe :func:`fast_cnn` was designed and measured with (full MNIST, 2 epochs).
FAST_CNN_RECIPE = FastCNNRecipe()


def _fast_batch_norm(name: str) -> keras.layers.BatchNormalization:
    """Batch normalisation whose running statistics settle within a short run."""
    return layers.BatchNormalization(momentum=0.8, moving_variance_initializer="zeros", name=name)


def fast_cnn(input_shape=(28, 28, 1), num_classes: int = 10) -> keras.Sequential:
    """A small modern CNN built for *time to 99 %* MNIST test accuracy on a laptop CPU.

    Three convolutions (16, 32, 64 filters, 3×3, ``"valid"``), each followed by batch
    normalisation and ReLU; global average pooling replaces ``Flatten`` + big Dense
    layers; one Dense softmax layer classifies. 24,282 parameters (23,834 trainable).

    Design choices, all for speed:

    * **Pool before normalising.** ``Conv → MaxPool → BatchNorm → ReLU`` does the
      element-wise work on a quarter of the pixels. (Max pooling commutes with ReLU, so
      the result is almost the same as the textbook order ``Conv → BN → ReLU → Pool``, at
      a clearly lower cost on a CPU.)
    * **Batch normalisation** keeps the activations well scaled, so a high learning rate
      (up to 0.01 with Adam, see :data:`FAST_CNN_RECIPE`) does not diverge; convolutions
      before it need no bias (BatchNorm's shift replaces it).
    * **Global average pooling** instead of a large Dense layer: few parameters, little
      over-fitting, and no dropout needed in a two-epoch run.
    * **Running statistics that settle fast.** At evaluation, batch normalisation uses
      running averages of the training batches' means and variances. Keras starts the
      running variance at 1 and updates it with ``momentum=0.99`` (an average over about
      100 steps). The first convolution's outputs have a variance near 0.01, so after a
      short run the estimate is still mostly that initial 1, and the model that scored
      98 % during training predicts a single class at evaluation. Here the running
      variance starts at 0 and ``momentum=0.8`` averages over the last few batches, so the
      estimates are right after a few dozen steps (the short ``smoke`` and ``grade``
      runs), and still fine for the full run.

    Train it with :func:`compile_fast_cnn` and :data:`FAST_CNN_RECIPE`. Measured on the
    full MNIST training set (2 epochs, batch 128, TensorFlow on a 2-core CPU): 99.2-99.35 %
    test accuracy in five runs with different seeds, about 25-30 s of wall time from
    process start (imports and data loading included) on a quiet machine.

    Parameters
    ----------
    input_shape : tuple of int, default=(28, 28, 1)
        ``(height, width, channels)``; at least 18×18 (three valid 3×3 convolutions and two
        poolings must fit).
    num_classes : int, default=10
        Units of the softmax output layer.

    Returns
    -------
    keras.Sequential
        Uncompiled; layers ``conv1, pool1, bn1, relu1, conv2, pool2, bn2, relu2, conv3,
        bn3, relu3, global_pool, output``.
    """
    height, width, channels = _input_shape(input_shape)
    if min(height, width) < 18:
        raise ValueError(
            f"fast_cnn needs images of at least 18×18 pixels, got input_shape={input_shape!r}"
        )
    return keras.Sequential(
        [
            keras.Input(shape=(height, width, channels)),
            layers.Conv2D(16, 3, use_bias=False, name="conv1"),
            layers.MaxPooling2D(2, name="pool1"),
            _fast_batch_norm("bn1"),
            layers.ReLU(name="relu1"),
            layers.Conv2D(32, 3, use_bias=False, name="conv2"),
            layers.MaxPooling2D(2, name="pool2"),
            _fast_batch_norm("bn2"),
            layers.ReLU(name="relu2"),
            layers.Conv2D(64, 3, use_bias=False, name="conv3"),
            _fast_batch_norm("bn3"),
            layers.ReLU(name="relu3"),
            layers.GlobalAveragePooling2D(name="global_pool"),
            layers.Dense(_num_classes(num_classes), activation="softmax", name="output"),
        ],
        name="fast_cnn",
    )


def compile_fast_cnn(
    model: keras.Model,
    steps_per_epoch: int,
    epochs: int | None = None,
    recipe: FastCNNRecipe = FAST_CNN_RECIPE,
) -> keras.Model:
    """Compile a model with the fast CNN's training recipe.

    Adam with the one-cycle learning-rate schedule of ``recipe``, sparse categorical
    cross-entropy (integer labels) and accuracy.

    Parameters
    ----------
    model : keras.Model
        Usually :func:`fast_cnn` (any softmax classifier works).
    steps_per_epoch : int
        Training steps per epoch: ``recipe.steps_per_epoch(len(x_train))``. The schedule
        must know the length of the run to place its peak and its end.
    epochs : int, optional
        Epochs you will train for (pass the same number to ``fit``); by default
        ``recipe.epochs``.
    recipe : FastCNNRecipe, default=FAST_CNN_RECIPE
        The recipe.

    Returns
    -------
    keras.Model
        The same model, compiled (returned for chaining).

    Examples
    --------
    >>> recipe = FAST_CNN_RECIPE  # doctest: +SKIP
    >>> model = compile_fast_cnn(fast_cnn(), recipe.steps_per_epoch(len(x_train)))  # doctest: +SKIP
    >>> model.fit(x_train, y_train, batch_size=recipe.batch_size, epochs=recipe.epochs,
    ...           validation_data=(x_val, y_val))  # doctest: +SKIP
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"model must be a Keras model, got {type(model).__name__}")
    if recipe.optimizer != "adam":
        raise ValueError(f"FastCNNRecipe.optimizer must be 'adam', got {recipe.optimizer!r}")
    schedule = recipe.learning_rate_schedule(steps_per_epoch, epochs)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


# --------------------------------------------------------------------------- PneumoniaMNIST


def _conv_bn_relu(filters: int, name: str) -> list[keras.layers.Layer]:
    """Conv2D (3×3, same, no bias) → BatchNormalization → ReLU, with names ``<name>_...``."""
    return [
        layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv"),
        _fast_batch_norm(f"{name}_bn"),
        layers.ReLU(name=f"{name}_relu"),
    ]


def pneumonia_cnn(
    input_shape=(28, 28, 1), width: int = 16, dropout: float = 0.3, augmentation=None
) -> keras.Sequential:
    """A small batch-norm CNN for PneumoniaMNIST (28×28 chest X-rays, normal / pneumonia).

    [augmentation →] Rescaling(1/255) → block1a, block1b (Conv ``width``) → MaxPool →
    block2a, block2b (Conv ``2·width``) → MaxPool → block3 (Conv ``4·width``) →
    GlobalAveragePooling → Dropout → Dense(1, sigmoid). Each block is Conv2D(3×3,
    ``"same"``, no bias) → BatchNormalization → ReLU. 35,409 parameters at the default
    width of 16.

    Built for quality in little CPU time: two convolutions before each pooling see more
    context at full resolution than the course's X-ray model, batch normalisation allows a
    high learning rate, and global average pooling keeps the classifier tiny (no big Dense
    layer to over-fit 4,708 training images). The batch normalisation layers keep running
    statistics that settle within a few dozen steps, as in :func:`fast_cnn` (with Keras'
    defaults a two-epoch run scores a validation ROC AUC near 0.7 at evaluation although
    it reaches 0.98 in training). Train it with :data:`PNEUMONIA_CNN_RECIPE`
    (one-cycle Adam, 20 epochs, batch 64), balanced class weights
    (:func:`labcore.training.class_weights`) and :func:`xray_augmentation`; see
    ``bench/pneumonia_quality.py`` for the measured test accuracy and ROC AUC.

    Parameters
    ----------
    input_shape : tuple of int, default=(28, 28, 1)
        ``(height, width, channels)``; at least 4×4 (two poolings).
    width : int, default=16
        Filters of the first blocks; the later blocks have 2× and 4× as many.
    dropout : float, default=0.3
        Dropout rate before the output layer, in [0, 1).
    augmentation : keras.layers.Layer, optional
        Applied right after the input, before rescaling, so it sees pixel values 0-255
        (e.g. :func:`xray_augmentation`); active only while training.

    Returns
    -------
    keras.Sequential
        Uncompiled; the input is raw pixels (0-255). Layers ``[augmentation,] rescaling,
        block1a_conv, block1a_bn, block1a_relu, ..., block3_relu, global_pool, dropout,
        output`` (``pool1`` and ``pool2`` between the stages).

    Examples
    --------
    >>> model = pneumonia_cnn()
    >>> model.count_params()
    35409
    """
    height, image_width, channels = _input_shape(input_shape)
    if min(height, image_width) < 4:
        raise ValueError(
            f"pneumonia_cnn needs images of at least 4×4 pixels, got input_shape={input_shape!r}"
        )
    if not _is_whole(width) or width < 1:
        raise ValueError(f"width must be a positive integer, got {width!r}")
    if not isinstance(dropout, numbers.Real) or isinstance(dropout, bool) or not 0 <= dropout < 1:
        raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
    if augmentation is not None and not isinstance(augmentation, layers.Layer):
        raise ValueError(
            f"augmentation must be a Keras layer (or a keras.Sequential of layers), got "
            f"{type(augmentation).__name__}; build one with labcore.models.xray_augmentation()"
        )
    width = int(width)
    return keras.Sequential(
        [
            keras.Input(shape=(height, image_width, channels)),
            *([augmentation] if augmentation is not None else []),
            layers.Rescaling(1.0 / 255, name="rescaling"),
            *_conv_bn_relu(width, "block1a"),
            *_conv_bn_relu(width, "block1b"),
            layers.MaxPooling2D(2, name="pool1"),
            *_conv_bn_relu(2 * width, "block2a"),
            *_conv_bn_relu(2 * width, "block2b"),
            layers.MaxPooling2D(2, name="pool2"),
            *_conv_bn_relu(4 * width, "block3"),
            layers.GlobalAveragePooling2D(name="global_pool"),
            layers.Dropout(float(dropout), name="dropout"),
            layers.Dense(1, activation="sigmoid", name="output"),
        ],
        name="pneumonia_cnn",
    )


#: How :func:`pneumonia_cnn` is trained on PneumoniaMNIST: the same one-cycle Adam schedule
#: as the fast MNIST CNN, with a lower peak for the smaller, noisier dataset.
PNEUMONIA_CNN_RECIPE = FastCNNRecipe(batch_size=64, epochs=20, peak_learning_rate=3e-3)


# --------------------------------------------------------------------------- tuning


#: Hyperparameters :func:`cnn_from_hparams` understands, with their defaults.
HPARAM_DEFAULTS: dict[str, object] = {
    "conv_blocks": 2,
    "filters": 32,
    "kernel_size": 3,
    "batch_norm": False,
    "dense_units": 64,
    "dropout": 0.2,
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "momentum": 0.9,
}

#: Keys accepted and ignored by :func:`cnn_from_hparams`: they belong to ``fit``.
IGNORED_HPARAMS = ("batch_size", "epochs")

#: Optimizer names :func:`cnn_from_hparams` accepts.
OPTIMIZERS = ("adam", "sgd", "rmsprop")


def _whole_hparam(hp: dict, key: str, minimum: int) -> int:
    value = hp[key]
    if not _is_whole(value) or value < minimum:
        raise ValueError(f"hyperparameter {key!r} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _real_hparam(hp: dict, key: str, low: float, high: float, *, include_low: bool) -> float:
    value = hp[key]
    in_range = (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and (low <= value if include_low else low < value)
        and value < high
    )
    if not in_range:
        bracket = "[" if include_low else "("
        raise ValueError(
            f"hyperparameter {key!r} must be a number in {bracket}{low}, {high}), got {value!r}"
        )
    return float(value)


def _resolve_hparams(hp) -> dict[str, object]:
    """Defaults + ``hp``, checked; ``filters`` becomes one int per block."""
    if not isinstance(hp, dict):
        raise ValueError(f"hp must be a dict of hyperparameters, got {type(hp).__name__}")
    unknown = sorted(set(hp) - set(HPARAM_DEFAULTS) - set(IGNORED_HPARAMS))
    if unknown:
        raise ValueError(
            f"unknown hyperparameter(s) {unknown}; known: {sorted(HPARAM_DEFAULTS)} (and "
            f"{list(IGNORED_HPARAMS)}, which belong to fit and are ignored here)"
        )
    values = {**HPARAM_DEFAULTS, **{k: v for k, v in hp.items() if k in HPARAM_DEFAULTS}}

    filters = values["filters"]
    if isinstance(filters, list | tuple):
        if not filters or not all(_is_whole(f) and f >= 1 for f in filters):
            raise ValueError(
                f"hyperparameter 'filters' must be a positive int or a non-empty list of "
                f"positive ints, got {filters!r}"
            )
        if "conv_blocks" in hp and _whole_hparam(values, "conv_blocks", 1) != len(filters):
            raise ValueError(
                f"hyperparameters 'conv_blocks' ({hp['conv_blocks']}) and 'filters' "
                f"({list(filters)}) disagree: give one filter count per block"
            )
        values["conv_blocks"] = len(filters)
        values["filters"] = [int(f) for f in filters]
    else:
        filters = _whole_hparam(values, "filters", 1)
        values["filters"] = [filters] * _whole_hparam(values, "conv_blocks", 1)
    values["conv_blocks"] = len(values["filters"])

    values["kernel_size"] = _whole_hparam(values, "kernel_size", 1)
    values["dense_units"] = _whole_hparam(values, "dense_units", 1)
    values["dropout"] = _real_hparam(values, "dropout", 0.0, 1.0, include_low=True)
    values["learning_rate"] = _real_hparam(values, "learning_rate", 0.0, 10.0, include_low=False)
    values["momentum"] = _real_hparam(values, "momentum", 0.0, 1.0, include_low=True)
    if not isinstance(values["batch_norm"], bool | np.bool_):
        raise ValueError(
            f"hyperparameter 'batch_norm' must be True or False, got {values['batch_norm']!r}"
        )
    values["batch_norm"] = bool(values["batch_norm"])
    optimizer = values["optimizer"]
    if not isinstance(optimizer, str) or optimizer.lower() not in OPTIMIZERS:
        raise ValueError(
            f"hyperparameter 'optimizer' must be one of {OPTIMIZERS}, got {optimizer!r}"
        )
    values["optimizer"] = optimizer.lower()
    return values


def _optimizer(name: str, learning_rate: float, momentum: float) -> keras.optimizers.Optimizer:
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=learning_rate)
    return keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum)


def cnn_from_hparams(hp: dict, input_shape=(28, 28, 1), num_classes: int = 10) -> keras.Model:
    """Build and compile a CNN from a dict of hyperparameters (for tuning, notebook 04).

    Architecture: ``conv_blocks`` blocks of Conv2D(filters, kernel_size, same, relu)
    [→ BatchNormalization] → MaxPooling2D(2), then Flatten → Dense(dense_units, relu) →
    Dropout(dropout) → Dense(num_classes, softmax). Compiled with the chosen optimizer,
    sparse categorical cross-entropy (integer labels) and accuracy.

    Parameters
    ----------
    hp : dict
        Hyperparameters; missing keys take the defaults of :data:`HPARAM_DEFAULTS`:

        ``conv_blocks`` : int, default 2
            Number of convolution blocks. Each halves the image size, so it is limited by
            the input (at most 4 on 28×28).
        ``filters`` : int or list of int, default 32
            Filters per block: an int means the same for every block; a list gives one
            number per block (and sets ``conv_blocks``).
        ``kernel_size`` : int, default 3
            Square kernel size of every convolution.
        ``batch_norm`` : bool, default False
            Insert BatchNormalization after each convolution.
        ``dense_units`` : int, default 64
            Units of the hidden Dense layer.
        ``dropout`` : float in [0, 1), default 0.2
            Dropout rate before the output layer (0 leaves the layer out).
        ``optimizer`` : {"adam", "sgd", "rmsprop"}, default "adam"
            SGD uses the momentum given by ``momentum``.
        ``learning_rate`` : float > 0, default 1e-3
            Learning rate of the optimizer.
        ``momentum`` : float in [0, 1), default 0.9
            Momentum of SGD (ignored by the other optimizers).

        ``batch_size`` and ``epochs`` are accepted and ignored: they are arguments of
        ``fit``, read by the caller.
    input_shape : tuple of int, default=(28, 28, 1)
        ``(height, width, channels)``.
    num_classes : int, default=10
        Units of the softmax output layer.

    Returns
    -------
    keras.Sequential
        A compiled model named ``cnn_from_hparams``; layers ``block1_conv,
        [block1_bn,] block1_pool, ..., flatten, dense, [dropout,] output``.

    Raises
    ------
    ValueError
        Naming the key, for unknown keys and for values of the wrong type or range (also
        when ``conv_blocks`` would shrink the image below one pixel).

    Examples
    --------
    >>> model = cnn_from_hparams({"filters": [16, 32], "dropout": 0.3, "optimizer": "sgd"})
    >>> [layer.name for layer in model.layers][:3]
    ['block1_conv', 'block1_pool', 'block2_conv']
    """
    values = _resolve_hparams(hp)
    height, width, channels = _input_shape(input_shape)
    blocks = values["conv_blocks"]
    if min(height, width) // 2**blocks < 1:
        raise ValueError(
            f"hyperparameter 'conv_blocks' ({blocks}) is too large for {height}×{width} images: "
            f"each block halves the size; use at most {int(math.log2(min(height, width)))}"
        )
    model_layers = [keras.Input(shape=(height, width, channels))]
    for block, filters in enumerate(values["filters"], start=1):
        model_layers.append(
            layers.Conv2D(
                filters,
                values["kernel_size"],
                padding="same",
                activation="relu",
                name=f"block{block}_conv",
            )
        )
        if values["batch_norm"]:
            model_layers.append(layers.BatchNormalization(name=f"block{block}_bn"))
        model_layers.append(layers.MaxPooling2D(2, name=f"block{block}_pool"))
    model_layers += [
        layers.Flatten(name="flatten"),
        layers.Dense(values["dense_units"], activation="relu", name="dense"),
    ]
    if values["dropout"] > 0:
        model_layers.append(layers.Dropout(values["dropout"], name="dropout"))
    model_layers.append(
        layers.Dense(_num_classes(num_classes), activation="softmax", name="output")
    )
    model = keras.Sequential(model_layers, name="cnn_from_hparams")
    model.compile(
        optimizer=_optimizer(values["optimizer"], values["learning_rate"], values["momentum"]),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
