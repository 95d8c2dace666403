"""The official Keras training steps, timed: the reference that ``bench/training.py`` measures beside
its own figures.

A port of the two official DCASE 2021 Task 2 baselines' model definitions and
training calls (``keras_model.py`` of y-kawagu/dcase2021_task2_baseline_ae and
..._mobile_net_v2; ``../shared/method.md`` sections 4 and 5), written for this
benchmark: the AE (Dense 640 -> 128 x 4 -> 8 -> 128 x 4 -> 640, BatchNorm and
ReLU after every layer but the last; MSE, Adam lr 0.001, batch 512) and
MobileNetV2 (``keras.applications.MobileNetV2(alpha=0.5, weights=None,
input_shape=(64, 128, 3))``, the log-mel patch repeated into three channels,
softmax over the sections; categorical cross-entropy, Adam lr 0.00001, batch
32), each trained with ``model.fit`` as the official code does, shuffled, no
validation split.  The rate is the examples per second of the epochs after the
first (which traces and compiles).

It needs TensorFlow, which is not part of the project's environment; it imports
nothing of ``asdlib``, so it runs under any Python that has TensorFlow:

    python3 -m venv .venv-keras && .venv-keras/bin/pip install tensorflow-cpu==2.21.0
    .venv/bin/python bench/training.py --keras-python .venv-keras/bin/python

Input: an ``.npz`` with ``ae`` (vectors, N x 640), ``patches`` (M x 64 x 128)
and ``labels`` (M section indices); output: one JSON line with the rates.
"""
from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def autoencoder(keras, dim: int = 640):
    x = inp = keras.Input(shape=(dim,))
    for units in (128, 128, 128, 128, 8, 128, 128, 128, 128):
        x = keras.layers.Dense(units)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation("relu")(x)
    model = keras.Model(inp, keras.layers.Dense(dim)(x))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001), loss="mean_squared_error")
    return model


def mobilenet(keras, classes: int):
    model = keras.applications.MobileNetV2(input_shape=(64, 128, 3), alpha=0.5, weights=None, classes=classes)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.00001), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def fit_rate(keras, model, x, y, batch: int, epochs: int) -> float:
    """Examples per second of ``model.fit`` over the epochs after the first."""
    stamps = []

    class Stamp(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            stamps.append(time.perf_counter())

    model.fit(x, y, batch_size=batch, epochs=epochs + 1, shuffle=True, verbose=0, callbacks=[Stamp()])
    return len(x) * epochs / (stamps[-1] - stamps[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", help=".npz with ae, patches and labels")
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs after the first (default 3)")
    ap.add_argument("--ae-epochs", type=int, help="the AE's timed epochs (default: --epochs)")
    args = ap.parse_args()
    import numpy as np
    import tensorflow as tf
    import keras

    keras.utils.set_random_seed(0)
    data = np.load(args.data)
    vectors = data["ae"].astype("float32")
    patches = np.repeat(data["patches"].astype("float32")[..., None], 3, axis=-1)
    labels = data["labels"].astype("int64")
    classes = int(labels.max()) + 1
    onehot = np.eye(classes, dtype="float32")[labels]
    out = {"tensorflow": tf.__version__, "keras": keras.__version__,
           "threads": tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count(),
           "ae": fit_rate(keras, autoencoder(keras, vectors.shape[1]), vectors, vectors, 512, args.ae_epochs or args.epochs),
           "mbv2": fit_rate(keras, mobilenet(keras, classes), patches, onehot, 32, args.epochs)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
