"""Golden values for the Cox proportional-hazards tests (Tests/AmalgamGLMTests/Fixtures).

Table: the `lung` data of R's survival package (NCCTG advanced lung cancer; complete cases,
167 patients, 120 deaths with 10 tied death times), features age, sex, ph.ecog, ph.karno,
pat.karno, meal.cal, wt.loss standardised (mean 0, population sd 1). Written as lung_std.csv
with columns time, event (1 = death, 0 = censored), then the seven features.

Golden values, in cox_golden.json:
- unpenalised partial likelihood, Breslow and Efron ties: R's coxph (eps 1e-14, iter.max 100);
- L1 and elastic net (l1_ratio 0.7) at α_max/5 and α_max/20, Breslow and Efron: skglm's
  Cox datafit × L1_plus_L2 × ProxNewton (tol 1e-12, no intercept).

    sudo apt-get install r-cran-survival
    /work/venv-ref/bin/python scripts/reference/make_cox_golden.py     # skglm 0.5, numpy
"""
import json
import os
import subprocess

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "../../Tests/AmalgamGLMTests/Fixtures")
FEATURES = ["age", "sex", "ph.ecog", "ph.karno", "pat.karno", "meal.cal", "wt.loss"]


def export_lung(path):
    subprocess.run(["Rscript", "-e",
                    "library(survival); d <- na.omit(lung); "
                    "write.csv(data.frame(time=d$time, event=as.integer(d$status == 2), d[, c('age','sex','ph.ecog','ph.karno','pat.karno','meal.cal','wt.loss')]),"
                    f" '{path}', row.names=FALSE)"], check=True)
    raw = np.genfromtxt(path, delimiter=",", skip_header=1)
    t, s, X = raw[:, 0], raw[:, 1], raw[:, 2:]
    X = (X - X.mean(0)) / X.std(0)
    with open(os.path.join(OUT, "lung_std.csv"), "w") as f:
        f.write(",".join(["time", "event"] + FEATURES) + "\n")
        for ti, si, row in zip(t, s, X):
            f.write(",".join([repr(float(ti)), repr(float(si))] + [repr(float(v)) for v in row]) + "\n")
    return t, s, X


def coxph(ties):
    script = ("library(survival); d <- read.csv('" + os.path.join(OUT, "lung_std.csv") + "'); "
              "f <- coxph(Surv(time, event) ~ ., data=d, ties='" + ties + "', control=coxph.control(eps=1e-14, iter.max=100)); "
              "cat(sprintf('%.17g', coef(f)), sep='\\n'); cat(sprintf('%.17g', f$loglik[2]), '\\n')")
    out = subprocess.run(["Rscript", "-e", script], check=True, capture_output=True, text=True).stdout.split()
    return [float(v) for v in out[:-1]], float(out[-1])


def main():
    t, s, X = export_lung("/tmp/lung_raw.csv")
    n = len(t)
    from skglm.datafits import Cox
    from skglm.penalties import L1_plus_L2
    from skglm.solvers import ProxNewton
    y = np.column_stack((t, s))
    cases = []
    for ties in ["breslow", "efron"]:
        coef, loglik = coxph(ties)
        # objective = −(partial log-likelihood)/n
        cases.append(dict(ties=ties, source="R survival coxph", alpha=0.0, l1_ratio=1.0, coef=coef, objective=-loglik / n))
        df = Cox(use_efron=(ties == "efron"))
        df.initialize(X, y)
        amax = np.max(np.abs(X.T @ df.raw_grad(y, np.zeros(n))))
        for l1_ratio in [1.0, 0.7]:
            for div in [5, 20]:
                a = amax / l1_ratio / div
                # skglm's CoxEstimator passes `method` straight to Cox(use_efron=...), so "breslow" (a
                # non-empty string) also selects Efron; call the solver directly instead.
                datafit = Cox(use_efron=(ties == "efron"))
                datafit.initialize(X, y)
                w, _, stop = ProxNewton(tol=1e-12, max_iter=100, fit_intercept=False).solve(
                    X, y, datafit, L1_plus_L2(alpha=a, l1_ratio=l1_ratio))
                assert stop <= 1e-12, stop
                d2 = Cox(use_efron=(ties == "efron")); d2.initialize(X, y)
                obj = d2.value(y, w, X @ w) + a * l1_ratio * np.abs(w).sum() + a * (1 - l1_ratio) / 2 * (w ** 2).sum()
                cases.append(dict(ties=ties, source="skglm Cox + L1_plus_L2 + ProxNewton", alpha=a, l1_ratio=l1_ratio,
                                  alpha_max=amax / l1_ratio, coef=w.tolist(), objective=float(obj)))
    with open(os.path.join(OUT, "cox_golden.json"), "w") as f:
        json.dump({"generator": "scripts/reference/make_cox_golden.py", "skglm": __import__("skglm").__version__,
                   "survival_R": subprocess.run(["Rscript", "-e", "cat(as.character(packageVersion('survival')))"],
                                                capture_output=True, text=True).stdout, "cases": cases}, f, indent=1)
    print(len(cases), "cases")


if __name__ == "__main__":
    main()
