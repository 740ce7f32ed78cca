"""Sparse GLMs side by side: Amalgam (release build), skglm and scikit-learn, in one run.

For each problem, every side fits until its KKT violation (the largest distance of −∇F to the
penalty's subdifferential, skglm's stop_crit) is ≤ 1e-6; the violation is recomputed here from
each side's coefficients. Times are medians of warm fits; skglm's first fit (numba compilation)
and Amalgam's first call are reported separately. scikit-learn's tol is a duality-gap criterion,
so it is tightened (1e-4, 1e-6, …) until its answer reaches the same violation.

    swift build -c release --product amalgam-bench
    python3 scripts/bench/austen_tfidf.py /tmp/glm-data          # the large sparse design
    /path/to/venv/bin/python scripts/bench/glm_bench.py --data /tmp/glm-data [--repeat 5]

Needs numpy, scipy, scikit-learn, skglm (pip). Prints a markdown table.
"""
import argparse
import json
import os
import subprocess
import time

import numpy as np
from scipy import sparse
from sklearn.datasets import load_svmlight_file
from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression

ROOT = os.path.join(os.path.dirname(__file__), "../..")
FIX = os.path.join(ROOT, "Tests/AmalgamGLMTests/Fixtures")
BENCH = os.path.join(ROOT, ".build/release/amalgam-bench")
TARGET = 1e-6


def load(path):
    if path.endswith(".svm") or path.endswith(".libsvm"):
        X, y = load_svmlight_file(path)
        return X.tocsc(), y
    d = np.loadtxt(path, delimiter=",", skiprows=1)
    return np.asfortranarray(d[:, :-1]), d[:, -1]


def kkt(est, X, y, w, b, alpha):
    n = len(y)
    if est == "logreg":
        ypm = np.where(y > 0, 1.0, -1.0)
        z = X @ w + b
        d = -ypm / (1 + np.exp(ypm * z)) / n
        icpt = abs(d.sum()) * 4 / 1.0
    else:
        d = (X @ w + b - y) / n
        icpt = abs(d.sum())
    g = X.T @ d
    g = np.asarray(g).ravel()
    if est == "enet":
        a1, a2 = alpha * 0.5, alpha * 0.5
        s = np.where(w == 0, np.maximum(0, np.abs(g) - a1), np.abs(g + a1 * np.sign(w) + a2 * w))
    elif est == "mcp":
        gam = 3.0
        s = np.where(w == 0, np.maximum(0, np.abs(g) - alpha),
                     np.where(np.abs(w) < alpha * gam, np.abs(g + alpha * np.sign(w) - w / gam), np.abs(g)))
    else:
        s = np.where(w == 0, np.maximum(0, np.abs(g) - alpha), np.abs(g + alpha * np.sign(w)))
    return max(s.max(), icpt)


def alpha_max(est, X, y):
    n = len(y)
    if est == "logreg":
        y01 = (y > 0).astype(float)
        return np.abs(np.asarray(X.T @ (y01.mean() - y01)).ravel()).max() / n
    amax = np.abs(np.asarray(X.T @ (y - y.mean())).ravel()).max() / n
    return amax / 0.5 if est == "enet" else amax


def timed(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter(); out = fn(); times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def skglm_side(est, X, y, alpha, repeat):
    from skglm import ElasticNet as SkE, Lasso as SkL, MCPRegression, SparseLogisticRegression
    make = {"lasso": lambda: SkL(alpha=alpha, tol=TARGET, max_iter=1000),
            "enet": lambda: SkE(alpha=alpha, l1_ratio=0.5, tol=TARGET, max_iter=1000),
            "mcp": lambda: MCPRegression(alpha=alpha, gamma=3, tol=TARGET, max_iter=1000),
            "logreg": lambda: SparseLogisticRegression(alpha=alpha, tol=TARGET, max_iter=1000)}[est]
    t = time.perf_counter(); m = make().fit(X, y); first = time.perf_counter() - t
    sec, m = timed(lambda: make().fit(X, y), repeat)
    b = float(np.ravel(m.intercept_)[0]) if np.ndim(m.intercept_) else float(m.intercept_)
    return first, sec, np.ravel(m.coef_), b


def sklearn_side(est, X, y, alpha, repeat):
    if est == "mcp":
        return None
    n = len(y)
    for tol in [1e-4, 1e-6, 1e-8, 1e-10, 1e-12]:
        make = {"lasso": lambda: Lasso(alpha=alpha, tol=tol, max_iter=100_000),
                "enet": lambda: ElasticNet(alpha=alpha, l1_ratio=0.5, tol=tol, max_iter=100_000),
                "logreg": lambda: LogisticRegression(l1_ratio=1.0, C=1 / (n * alpha), solver="saga", tol=tol, max_iter=100_000)}[est]
        t = time.perf_counter(); m = make().fit(X, y); once = time.perf_counter() - t
        w = np.ravel(m.coef_); b = float(np.ravel(m.intercept_)[0])
        if kkt(est, X, y, w, b, alpha) <= TARGET:
            sec = once if once > 5 else timed(lambda: make().fit(X, y), repeat)[0]
            return tol, sec, w, b
        if once > 60:
            break
    return None


def amalgam_side(est, path, ratio, repeat):
    out = subprocess.run([BENCH, "glm", "--data", path, "--estimator", est, "--alpha-ratio", str(ratio), "--tol", str(TARGET),
                          "--repeat", str(repeat)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/tmp/glm-data")
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    problems = [
        ("diabetes", f"{FIX}/diabetes.csv", "lasso", 0.1), ("diabetes", f"{FIX}/diabetes.csv", "lasso", 0.01),
        ("diabetes", f"{FIX}/diabetes.csv", "enet", 0.1), ("prostate", f"{FIX}/prostate.csv", "mcp", 0.1),
        ("breast_cancer", f"{FIX}/breast_cancer_std.csv", "lasso", 0.01), ("breast_cancer", f"{FIX}/breast_cancer_std.csv", "logreg", 0.1),
        ("heart_scale", f"{FIX}/heart_scale.libsvm", "logreg", 0.1),
        ("austen tf-idf", f"{a.data}/austen_tfidf_reg.svm", "lasso", 0.1), ("austen tf-idf", f"{a.data}/austen_tfidf_reg.svm", "lasso", 0.01),
        ("austen tf-idf", f"{a.data}/austen_tfidf_reg.svm", "enet", 0.1), ("austen tf-idf", f"{a.data}/austen_tfidf_reg.svm", "mcp", 0.1),
        ("austen tf-idf", f"{a.data}/austen_tfidf_clf.svm", "logreg", 0.1),
    ]
    print("| problem | model | α/α_max | Amalgam warm (first) | skglm warm (first) | scikit-learn | skglm ÷ Amalgam | sklearn ÷ Amalgam | KKT A / skglm / sklearn |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, path, est, ratio in problems:
        X, y = load(path)
        alpha = alpha_max(est, X, y) * ratio
        am = amalgam_side(est, path, ratio, a.repeat)
        sk_first, sk_sec, sk_w, sk_b = skglm_side(est, X, y, alpha, a.repeat)
        sl = sklearn_side(est, X, y, alpha, a.repeat)
        k_sk = kkt(est, X, y, sk_w, sk_b, alpha)
        sl_cell = "–" if sl is None else f"{sl[1] * 1e3:.2f} ms (tol {sl[0]:g})"
        sl_ratio = "–" if sl is None else f"{sl[1] / am['seconds']:.2f}"
        k_sl = "–" if sl is None else f"{kkt(est, X, y, sl[2], sl[3], alpha):.1e}"
        print(f"| {name} {X.shape[0]}×{X.shape[1]} | {est} | {ratio:g} | {am['seconds'] * 1e3:.2f} ms ({am['first_seconds'] * 1e3:.2f}) | "
              f"{sk_sec * 1e3:.2f} ms ({sk_first * 1e3:.0f}) | {sl_cell} | {sk_sec / am['seconds']:.2f} | {sl_ratio} | "
              f"{am['stop_crit']:.1e} / {k_sk:.1e} / {k_sl} |", flush=True)


if __name__ == "__main__":
    main()
