"""Sparse GLMs side by side: Amalgam (release build), skglm, celer and scikit-learn, in one run.

Every side solves the same problem (intercept fitted, unpenalised) to the same precision: its
KKT violation — the largest distance of −∇F to the penalty's subdifferential, skglm's
stop_crit, with the intercept's gradient — must be ≤ RTOL·α (default 1e-8·α). The violation is
recomputed here, in float64, from each side's coefficients. Each side's own tolerance is
calibrated first: Amalgam and skglm stop on this criterion themselves (their tol is set to the
target, tightened ×0.1 if the recomputed violation is above it); celer's and scikit-learn's tol
are duality-gap criteria, so they are tightened from 1e-4 by ×0.01 until the answer reaches
the target. scikit-learn's L1 logistic regression is tried with liblinear (intercept_scaling
1e4, so its penalty on the intercept is negligible; the violation check includes the intercept)
and saga; the faster of those that reach the target is reported and named. celer's logistic
regression cannot fit an intercept, so it is not run there; scikit-learn has no MCP.

Then ROUNDS interleaved timing rounds: in each, every side fits once at its calibrated tol
(Amalgam in a fresh process that first makes one untimed call, so its figure is a warm call).
Reported: the median of the rounds; "first" is the side's first fit of the row in this
process (skglm's includes numba compilation the first time a signature is seen; Amalgam's is
the first call in a fresh process). Objectives are computed here from each side's
coefficients; a side whose objective is more than 1e-8 relative above the best is flagged.

    swift build -c release --product amalgam-bench
    python3 scripts/bench/austen_tfidf.py /tmp/glm-data            # the large sparse design
    python3 scripts/bench/glm_tables.py /tmp/glm-data --root DIR   # dna, standardised spam
    /path/to/venv/bin/python scripts/bench/glm_bench.py --data /tmp/glm-data --out docs/benchmarks-raw/glm.jsonl
    python3 scripts/bench/glm_bench.py --table docs/benchmarks-raw/glm.jsonl    # the markdown table

Needs numpy, scipy, scikit-learn, skglm, celer (pip) for a run; only the standard library for --table.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(__file__), "../..")
FIX = os.path.join(ROOT, "Tests/AmalgamGLMTests/Fixtures")
BENCH = os.path.join(ROOT, ".build/release/amalgam-bench")
GAMMA = 3.0     # MCP
L1_RATIO = 0.5  # elastic net
CAP = 60.0      # seconds: a side whose single fit takes longer is not tightened or timed further (one round)
DUALITY_GAP_TOLS = [1e-4, 1e-6, 1e-8, 1e-10, 1e-12, 1e-14]  # celer's and scikit-learn's tol, tightened in turn


def problems(data):
    d, r, c = f"{FIX}/diabetes.csv", f"{data}/austen_tfidf_reg.svm", f"{data}/austen_tfidf_clf.svm"
    dna, spam = f"{data}/dna.svm", f"{data}/spam_std.csv"
    return [
        ("diabetes", d, "lasso", 0.1), ("diabetes", d, "lasso", 0.01), ("diabetes", d, "lasso", 0.001),
        ("diabetes", d, "enet", 0.1), ("prostate", f"{FIX}/prostate.csv", "mcp", 0.1),
        ("breast_cancer", f"{FIX}/breast_cancer_std.csv", "lasso", 0.01),
        ("breast_cancer", f"{FIX}/breast_cancer_std.csv", "logreg", 0.1),
        ("heart_scale", f"{FIX}/heart_scale.libsvm", "logreg", 0.1),
        ("dna", dna, "lasso", 0.1), ("dna", dna, "lasso", 0.01), ("dna", dna, "lasso", 0.001),
        ("dna", dna, "logreg", 0.1), ("dna", dna, "logreg", 0.01),
        ("spam (standardised)", spam, "lasso", 0.01), ("spam (standardised)", spam, "lasso", 0.001),
        ("spam (standardised)", spam, "logreg", 0.01), ("spam (standardised)", spam, "logreg", 0.001),
        ("austen tf-idf", r, "lasso", 0.1), ("austen tf-idf", r, "lasso", 0.01), ("austen tf-idf", r, "lasso", 0.001),
        ("austen tf-idf", r, "enet", 0.1), ("austen tf-idf", r, "mcp", 0.1),
        ("austen tf-idf", c, "logreg", 0.1), ("austen tf-idf", c, "logreg", 0.01),
    ]


# ---------------------------------------------------------------- the problem, in float64

def load(path):
    import numpy as np
    from sklearn.datasets import load_svmlight_file
    if path.endswith(".svm") or path.endswith(".libsvm"):
        X, y = load_svmlight_file(path)
        return X.tocsc(), y
    d = np.loadtxt(path, delimiter=",", skiprows=1)
    return np.asfortranarray(d[:, :-1]), d[:, -1]


def residual_gradient(est, X, y, w, b):
    """d = F'(Xw + b) per sample (mean-scaled), so ∇_w F = Xᵀd and ∂_b F = Σd."""
    import numpy as np
    n = len(y)
    z = np.asarray(X @ w).ravel() + b
    if est == "logreg":
        ypm = np.where(y > 0, 1.0, -1.0)
        return -ypm / (1 + np.exp(ypm * z)) / n, z
    return (z - y) / n, z


def kkt(est, X, y, w, b, alpha):
    import numpy as np
    d, _ = residual_gradient(est, X, y, w, b)
    g = np.asarray(X.T @ d).ravel()
    if est == "enet":
        a1, a2 = alpha * L1_RATIO, alpha * (1 - L1_RATIO)
        s = np.where(w == 0, np.maximum(0, np.abs(g) - a1), np.abs(g + a1 * np.sign(w) + a2 * w))
    elif est == "mcp":
        s = np.where(w == 0, np.maximum(0, np.abs(g) - alpha),
                     np.where(np.abs(w) < alpha * GAMMA, np.abs(g + alpha * np.sign(w) - w / GAMMA), np.abs(g)))
    else:
        s = np.where(w == 0, np.maximum(0, np.abs(g) - alpha), np.abs(g + alpha * np.sign(w)))
    return float(max(s.max(), abs(d.sum())))


def objective(est, X, y, w, b, alpha):
    import numpy as np
    _, z = residual_gradient(est, X, y, w, b)
    n = len(y)
    if est == "logreg":
        ypm = np.where(y > 0, 1.0, -1.0)
        return float(np.logaddexp(0, -ypm * z).sum() / n + alpha * np.abs(w).sum())
    f = float(((y - z) ** 2).sum() / (2 * n))
    if est == "enet":
        return f + alpha * (L1_RATIO * np.abs(w).sum() + (1 - L1_RATIO) / 2 * (w ** 2).sum())
    if est == "mcp":
        a = np.abs(w)
        pen = np.where(a <= GAMMA * alpha, alpha * a - a ** 2 / (2 * GAMMA), GAMMA * alpha ** 2 / 2)
        return f + float(pen.sum())
    return f + alpha * float(np.abs(w).sum())


def alpha_max(est, X, y):
    import numpy as np
    n = len(y)
    if est == "logreg":
        y01 = (y > 0).astype(float)
        return np.abs(np.asarray(X.T @ (y01.mean() - y01)).ravel()).max() / n
    amax = np.abs(np.asarray(X.T @ (y - y.mean())).ravel()).max() / n
    return amax / L1_RATIO if est == "enet" else amax


# ---------------------------------------------------------------- the sides

def fit_amalgam(est, path, ratio, tol, coef_file):
    """One fresh process: an untimed first call, then one timed warm call."""
    out = subprocess.run([BENCH, "glm", "--data", path, "--estimator", est, "--alpha-ratio", "%.17g" % ratio, "--tol", "%.17g" % tol,
                          "--repeat", "1", "--coef", coef_file], capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    sol = json.load(open(coef_file))
    import numpy as np
    AMALGAM_SOLVER[0] = r.get("solver", "anderson-cd")
    return r["seconds"], r["first_seconds"], np.array(sol["coef"]), float(sol["intercept"])


AMALGAM_SOLVER = [None]  # the solver the last Amalgam call reported (gram-cd, anderson-cd, prox-newton)


def make_skglm(est, alpha, tol):
    from skglm import ElasticNet, Lasso, MCPRegression, SparseLogisticRegression
    return {"lasso": lambda: Lasso(alpha=alpha, tol=tol, max_iter=1000, max_epochs=100_000),
            "enet": lambda: ElasticNet(alpha=alpha, l1_ratio=L1_RATIO, tol=tol, max_iter=1000, max_epochs=100_000),
            "mcp": lambda: MCPRegression(alpha=alpha, gamma=GAMMA, tol=tol, max_iter=1000, max_epochs=100_000),
            "logreg": lambda: SparseLogisticRegression(alpha=alpha, tol=tol, max_iter=1000, max_epochs=100_000)}[est]()


def fit_skglm_gram(est, alpha, tol, X, y):
    """skglm's GramCD (default: greedy coordinate choice) on a dense least-squares row. It
    ignores fit_intercept, so the intercept is fitted as a user would: X and y centred inside the
    timed call, b = ȳ − x̄ᵀw afterwards."""
    import numpy as np
    from skglm.penalties import L1, L1_plus_L2, MCPenalty
    from skglm.solvers import GramCD
    penalty = {"lasso": lambda: L1(alpha), "enet": lambda: L1_plus_L2(alpha, L1_RATIO), "mcp": lambda: MCPenalty(alpha, GAMMA)}[est]()
    t = time.perf_counter()
    xm, ym = X.mean(axis=0), y.mean()
    w = GramCD(tol=tol, max_iter=100_000, fit_intercept=False).solve(np.asfortranarray(X - xm), y - ym, None, penalty)[0]
    b = ym - xm @ w
    return time.perf_counter() - t, np.asarray(w, dtype=float), float(b)


def make_celer(est, alpha, tol):
    import celer
    if est == "lasso":
        return celer.Lasso(alpha=alpha, tol=tol, max_iter=1000, max_epochs=100_000, fit_intercept=True)
    if est == "enet":
        return celer.ElasticNet(alpha=alpha, l1_ratio=L1_RATIO, tol=tol, max_iter=1000, max_epochs=100_000, fit_intercept=True)
    return None  # MCP: not in celer; logistic regression: celer cannot fit an intercept


def make_sklearn(est, alpha, tol, n, solver):
    from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression
    if est == "lasso":
        return Lasso(alpha=alpha, tol=tol, max_iter=1_000_000)
    if est == "enet":
        return ElasticNet(alpha=alpha, l1_ratio=L1_RATIO, tol=tol, max_iter=1_000_000)
    if est == "logreg":
        if solver == "liblinear":
            # liblinear shuffles coordinates with random_state (fixed here: with None a fit's
            # length varied run to run, and one breast_cancer fit at a tight tol did not end in
            # 5 minutes); its max_iter counts outer Newton iterations of a few ms each, so 10,000
            # bounds a fit that will not converge instead of letting it run for hours.
            return LogisticRegression(penalty="l1", C=1 / (n * alpha), solver="liblinear", tol=tol, max_iter=10_000, intercept_scaling=1e4,
                                      random_state=0)
        return LogisticRegression(l1_ratio=1.0, C=1 / (n * alpha), solver="saga", tol=tol, max_iter=1_000_000, random_state=0)
    return None


def fit_python(model, X, y):
    import numpy as np
    t = time.perf_counter()
    model.fit(X, y)
    sec = time.perf_counter() - t
    b = np.ravel(model.intercept_)
    return sec, np.ravel(model.coef_).astype(float), float(b[0]) if b.size else 0.0


def calibrate(side, fit_at, tols, target, X, y, est, alpha):
    """Fits at each tol in turn until the recomputed KKT violation is ≤ target (or a fit exceeds CAP)."""
    tried = []
    first = None
    for tol in tols:
        try:
            sec, w, b = fit_at(tol)
        except Exception as e:  # a peer's own failure is reported, not hidden
            tried.append({"tol": tol, "error": f"{type(e).__name__}: {e}"[:200]})
            break
        if first is None:
            first = sec
        v = kkt(est, X, y, w, b, alpha)
        tried.append({"tol": tol, "seconds": sec, "kkt": v})
        if v <= target:
            return {"side": side, "tol": tol, "first_seconds": first, "reached": True, "tried": tried}
        if sec > CAP:
            break
    return {"side": side, "first_seconds": first, "reached": False, "tried": tried}


def run(a):
    import numpy as np
    rows = []
    done = set()
    if a.out and os.path.exists(a.out):
        for line in open(a.out):
            r = json.loads(line)
            done.add((r["problem"], r["estimator"], r["alpha_ratio"]))
    tmp = tempfile.mkdtemp()
    for name, path, est, ratio in problems(a.data):
        if (name, est, ratio) in done:
            continue
        if a.only and a.only not in f"{name} {est} {ratio}":
            continue
        if a.dense_least_squares and (est == "logreg" or path.endswith(".svm") or path.endswith(".libsvm")):
            continue
        X, y = load(path)
        n = len(y)
        alpha = alpha_max(est, X, y) * ratio
        target = a.rtol * alpha
        coef = os.path.join(tmp, "coef.json")
        # One fit function per side, fit(tol) -> (seconds, w, b); the same ones calibrate and time.
        first_calls = []  # Amalgam's first call in each fresh process

        def amalgam_at(tol):
            sec, first, w, b = fit_amalgam(est, path, ratio, tol, coef)
            first_calls.append(first)
            return sec, w, b
        fits = {"amalgam": amalgam_at, "skglm": lambda tol: fit_python(make_skglm(est, alpha, tol), X, y)}
        if a.gram and est in ("lasso", "enet", "mcp") and not hasattr(X, "tocsc"):
            fits["skglm-gram"] = lambda tol: fit_skglm_gram(est, alpha, tol, X, y)
        if make_celer(est, alpha, 1e-4) is not None:
            fits["celer"] = lambda tol: fit_python(make_celer(est, alpha, tol), X, y)
        solvers = ["liblinear", "saga"] if est == "logreg" else [] if est == "mcp" else ["cd"]
        for solver in solvers:
            fits[f"sklearn-{solver}"] = lambda tol, solver=solver: fit_python(make_sklearn(est, alpha, tol, n, solver), X, y)
        # Calibration (first calls included): Amalgam and skglm stop on the KKT violation itself,
        # the others on a duality gap.
        sides = {s: calibrate(s, fit, [target, target / 10, target / 100] if s in ("amalgam", "skglm", "skglm-gram") else DUALITY_GAP_TOLS,
                              target, X, y, est, alpha) for s, fit in fits.items()}
        del first_calls[:]  # the timed rounds' first calls are the ones reported
        # Interleaved timing rounds at the calibrated tolerances.
        timed = {s: [] for s, c in sides.items() if c["reached"]}
        slow = set()
        last = {}
        for _ in range(a.rounds):
            for s in [s for s in timed if s not in slow]:
                sec, w, b = fits[s](sides[s]["tol"])
                timed[s].append(sec)
                last[s] = (w, b)
                if sec > CAP:
                    slow.add(s)  # one fit over CAP: no further rounds for this side
        for s, c in sides.items():
            if s in timed:
                c["rounds"] = timed[s]
                c["seconds"] = float(np.median(timed[s]))
            if s in last:
                w, b = last[s]
                c["kkt"] = kkt(est, X, y, w, b, alpha)
                c["objective"] = objective(est, X, y, w, b, alpha)
                c["nnz"] = int(np.count_nonzero(w))
        if first_calls:
            sides["amalgam"]["first_seconds"] = first_calls[0]  # the first call of a fresh process
        sides["amalgam"]["solver"] = AMALGAM_SOLVER[0]
        row = {"problem": name, "shape": list(X.shape), "estimator": est, "alpha_ratio": ratio, "alpha": alpha,
               "target_kkt": target, "rounds": a.rounds, "sides": sides}
        rows.append(row)
        if a.out:
            with open(a.out, "a") as f:
                f.write(json.dumps(row) + "\n")
        print(summary_line(row), flush=True)
    return rows


# ---------------------------------------------------------------- the table (standard library only)

def ms(s):
    return f"{s * 1e3:.2f}" if s < 10 else f"{s:.1f} s"


def summary_line(r):
    return " | ".join(f"{s}: {c.get('seconds', float('nan')) * 1e3:.2f} ms" if c.get("reached") else f"{s}: not reached"
                      for s, c in r["sides"].items()) + f"  ({r['problem']} {r['estimator']} {r['alpha_ratio']})"


def table(path):
    rows = [json.loads(line) for line in open(path)]
    out = ["| problem | model | α/α_max | target KKT | Amalgam ms (first) | skglm ms (first) | celer ms (first) | scikit-learn ms (first; solver, tol) "
           "| skglm ÷ A | celer ÷ A | sklearn ÷ A | objective (Amalgam) | objective gap skglm / celer / sklearn | support A / skglm |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        s = r["sides"]
        a = s["amalgam"]
        best = min(c["objective"] for c in s.values() if c.get("reached") and "objective" in c)

        def cell(c, label=""):
            if c is None:
                return "–"
            if not c.get("reached"):
                t = c["tried"][-1]
                why = t.get("error") or f"KKT {t['kkt']:.1e} at tol {t['tol']:g} in {ms(t['seconds'])}"
                return f"not reached ({why})"
            rounds = "" if len(c["rounds"]) == r["rounds"] else f"; {len(c['rounds'])} round{'s' if len(c['rounds']) > 1 else ''}"
            return f"{ms(c['seconds'])} ({ms(c['first_seconds'])}{label}{rounds})"

        def ratio(c):
            return f"{c['seconds'] / a['seconds']:.2f}" if c and c.get("reached") and "seconds" in c and "seconds" in a else "–"

        def gap(c):
            if not c or not c.get("reached") or "objective" not in c:
                return "–"
            g = (c["objective"] - best) / abs(best)
            return "0" if g == 0 else f"{g:.0e}"

        sk = [c for k, c in s.items() if k.startswith("sklearn") and c.get("reached") and "seconds" in c]
        sl = min(sk, key=lambda c: c["seconds"]) if sk else next((c for k, c in s.items() if k.startswith("sklearn")), None)
        sl_label = f"; {sl['side'].split('-')[1]}, tol {sl['tol']:g}" if sl and sl.get("reached") else ""
        out.append(f"| {r['problem']} {r['shape'][0]}×{r['shape'][1]} | {r['estimator']} | {r['alpha_ratio']:g} | {r['target_kkt']:.1e} "
                   f"| {cell(a)} | {cell(s.get('skglm'))} | {cell(s.get('celer'))} | {cell(sl, sl_label) if sl else '–'} "
                   f"| {ratio(s.get('skglm'))} | {ratio(s.get('celer'))} | {ratio(sl)} | {a.get('objective', float('nan')):.10g} "
                   f"| {gap(s.get('skglm'))} / {gap(s.get('celer'))} / {gap(sl)} | {a.get('nnz', '–')} / {s['skglm'].get('nnz', '–')} |")
    return "\n".join(out)


def gram_table(path):
    """The dense least-squares rows with skglm's GramCD beside its AndersonCD."""
    out = ["| problem | model | α/α_max | target KKT | Amalgam ms (solver) | skglm AndersonCD ms | skglm GramCD ms | celer ms | scikit-learn cd ms "
           "| skglm-A ÷ A | skglm-G ÷ A | celer ÷ A | sklearn ÷ A |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for line in open(path):
        r = json.loads(line)
        s = r["sides"]
        a = s["amalgam"]

        def cell(c):
            if c is None:
                return "–"
            return ms(c["seconds"]) if c.get("reached") and "seconds" in c else "not reached"

        def ratio(c):
            return f"{c['seconds'] / a['seconds']:.2f}" if c and c.get("reached") and "seconds" in c and a.get("seconds") else "–"
        sk = s.get("sklearn-cd")
        out.append(f"| {r['problem']} | {r['estimator']} | {r['alpha_ratio']:g} | {r['target_kkt']:.2g} | {cell(a)} ({a.get('solver', '?')}) "
                   f"| {cell(s.get('skglm'))} | {cell(s.get('skglm-gram'))} | {cell(s.get('celer'))} | {cell(sk)} "
                   f"| {ratio(s.get('skglm'))} | {ratio(s.get('skglm-gram'))} | {ratio(s.get('celer'))} | {ratio(sk)} |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/tmp/glm-data")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--rtol", type=float, default=1e-8, help="target KKT violation as a multiple of α")
    ap.add_argument("--out", help="JSONL of raw results, appended row by row; rows already there are skipped (resumable)")
    ap.add_argument("--only", help="run only rows whose 'problem estimator ratio' contains this text")
    ap.add_argument("--table", help="print the markdown table from a JSONL file and exit")
    ap.add_argument("--gram", action="store_true", help="also time skglm's GramCD on the dense least-squares rows")
    ap.add_argument("--dense-least-squares", action="store_true", help="run only the dense least-squares rows (where Amalgam may choose GramCD)")
    a = ap.parse_args()
    if a.table:
        print(gram_table(a.table) if a.gram else table(a.table))
        return
    run(a)


if __name__ == "__main__":
    sys.exit(main())
