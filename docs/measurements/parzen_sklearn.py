"""One-off measurement (docs/results.md, eighth session): this project's Parzen estimate against
scikit-learn's KernelDensity, which the best public likelihood figure (1henrypage) was computed with,
on the same 10,000 samples of a trained run and the same test images, both judged by a float64
brute-force log-sum-exp on the first 50 of them.

scikit-learn is not a dependency of the project: `pip install scikit-learn` first. Usage:

    python docs/measurements/parzen_sklearn.py RUN_FOLDER EPOCH N_TEST SIGMA[,SIGMA...]
"""
import os
import sys
import time

import numpy as np
from scipy.special import logsumexp
from sklearn.neighbors import KernelDensity

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
import aae_tf  # noqa: E402
from aae_tf import evaluation  # noqa: E402


def main(run, epoch, n_test, sigmas):
    exp = aae_tf.load_run(run, epoch=epoch).experiment
    samples = exp.parzen_samples()  # the 10,000 samples Experiment.parzen decodes, the same seeds

    def flat(images):
        return exp.unit(images).reshape(len(images), -1).astype(np.float64)

    samples, test = flat(samples), flat(exp.images(exp.data.test[0][:n_test]))
    m, d = samples.shape
    first = test[:50]
    d2 = (first ** 2).sum(1)[:, None] + (samples ** 2).sum(1)[None, :] - 2 * first @ samples.T
    for s in sigmas:
        began = time.time()
        ours = evaluation.parzen_log_densities(samples, test, [s])[0]
        ours_seconds, began = time.time() - began, time.time()
        theirs = KernelDensity(kernel="gaussian", bandwidth=s).fit(samples).score_samples(test)
        theirs_seconds = time.time() - began
        brute = logsumexp(-d2 / (2 * s * s), axis=1) - np.log(m) - d / 2 * np.log(2 * np.pi * s * s)
        print(f"{os.path.basename(os.path.normpath(run))} epoch {epoch}, width {s:.4f}, {len(test)} test images: "
              f"this project {ours.mean():.2f} nats ({ours_seconds:.0f} s), scikit-learn {theirs.mean():.2f} "
              f"({theirs_seconds:.0f} s); first 50: float64 brute force {brute.mean():.2f}, this project "
              f"{ours[:50].mean():.2f}, scikit-learn {theirs[:50].mean():.2f}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__.strip().splitlines()[-1].strip())
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), [float(s) for s in sys.argv[4].split(",")])
