"""Golden values for the sparse-GLM tests (Tests/AmalgamGLMTests/Fixtures).

Writes the real tables as small fixtures and the solutions of scikit-learn (Lasso, ElasticNet,
L1 logistic regression) and skglm (MCP, SCAD) at tight tolerances:

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install scikit-learn==1.9.1 skglm==0.5 rdata
    sudo apt-get install liblinear-tools r-cran-lasso2     # heart_scale, Prostate
    /tmp/venv/bin/python scripts/reference/make_glm_golden.py

Tables: scikit-learn's diabetes (442 × 10, as load_diabetes() scales it), breast_cancer
(569 × 30, standardised; 0/1 target), liblinear's heart_scale (270 × 13, LIBSVM, ±1 labels),
lasso2's Prostate (97 × 8 features, target lpsa, standardised features).
"""
import json
import os

import numpy as np
import rdata
from sklearn.datasets import load_breast_cancer, load_diabetes, load_svmlight_file
from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression

OUT = os.path.join(os.path.dirname(__file__), "../../Tests/AmalgamGLMTests/Fixtures")


def write_csv(name, X, y, header):
    with open(os.path.join(OUT, name), "w") as f:
        f.write(",".join(header) + "\n")
        for row, t in zip(X, y):
            f.write(",".join(repr(float(v)) for v in row) + "," + repr(float(t)) + "\n")


def standardise(X):
    return (X - X.mean(0)) / X.std(0)


def tables():
    d = load_diabetes()
    write_csv("diabetes.csv", d.data, d.target, list(d.feature_names) + ["target"])
    b = load_breast_cancer()
    Xb = standardise(b.data)
    write_csv("breast_cancer_std.csv", Xb, b.target, [f"f{i}" for i in range(30)] + ["target"])
    Xh, yh = load_svmlight_file("/usr/share/doc/liblinear-tools/examples/heart_scale")
    with open("/usr/share/doc/liblinear-tools/examples/heart_scale") as src, open(os.path.join(OUT, "heart_scale.libsvm"), "w") as dst:
        dst.write(src.read())
    pr = rdata.conversion.convert(rdata.parser.parse_file("/usr/lib/R/site-library/lasso2/data/Prostate.rda"))["Prostate"]
    Xp = standardise(pr.drop(columns=["lpsa"]).to_numpy(dtype=float))
    yp = pr["lpsa"].to_numpy(dtype=float)
    write_csv("prostate.csv", Xp, yp, [c for c in pr.columns if c != "lpsa"] + ["lpsa"])
    return {
        "diabetes": (d.data, d.target.astype(float)),
        "breast_cancer": (Xb, b.target.astype(float)),
        "heart_scale": (Xh.toarray(), yh.astype(float)),
        "prostate": (Xp, yp),
    }


def alpha_max_quadratic(X, y, fit_intercept):
    r = y - y.mean() if fit_intercept else y
    return np.max(np.abs(X.T @ r)) / len(y)


def quadratic_objective(X, y, w, b, pen):
    return np.sum((y - X @ w - b) ** 2) / (2 * len(y)) + pen


def main():
    data = tables()
    cases = []
    for table in ["diabetes", "breast_cancer", "prostate"]:
        X, y = data[table]
        for fit_intercept in [True, False]:
            amax = alpha_max_quadratic(X, y, fit_intercept)
            for div in [10, 100]:
                a = amax / div
                m = Lasso(alpha=a, fit_intercept=fit_intercept, tol=1e-15, max_iter=1_000_000).fit(X, y)
                w, b = m.coef_, float(m.intercept_) if fit_intercept else 0.0
                cases.append(dict(table=table, estimator="lasso", alpha=a, alpha_max=amax, fit_intercept=fit_intercept,
                                  coef=w.tolist(), intercept=b, objective=quadratic_objective(X, y, w, b, a * np.abs(w).sum())))
            a = amax / 10
            m = ElasticNet(alpha=a, l1_ratio=0.5, fit_intercept=fit_intercept, tol=1e-15, max_iter=1_000_000).fit(X, y)
            w, b = m.coef_, float(m.intercept_) if fit_intercept else 0.0
            pen = a * 0.5 * np.abs(w).sum() + a * 0.25 * (w ** 2).sum()
            cases.append(dict(table=table, estimator="elastic_net", alpha=a, l1_ratio=0.5, alpha_max=amax, fit_intercept=fit_intercept,
                              coef=w.tolist(), intercept=b, objective=quadratic_objective(X, y, w, b, pen)))

    # L1-regularised logistic regression: skglm's objective (1/n) Σ log(1 + exp(−y z)) + α‖w‖₁ is
    # scikit-learn's C Σ log-loss + ‖w‖₁ with C = 1/(nα) (saga: unpenalised intercept).
    for table in ["breast_cancer", "heart_scale"]:
        X, y = data[table]
        ypm = np.where(y > 0, 1.0, -1.0)
        n = len(y)
        for fit_intercept in [True, False]:
            y01 = (ypm + 1) / 2
            g0 = X.T @ ((y01.mean() if fit_intercept else 0.5) - y01) / n
            amax = np.max(np.abs(g0))
            a = amax / 10
            m = LogisticRegression(l1_ratio=1.0, C=1 / (n * a), solver="saga", tol=1e-13, max_iter=5_000_000,
                                   fit_intercept=fit_intercept).fit(X, ypm)
            w, b = m.coef_[0], float(m.intercept_[0]) if fit_intercept else 0.0
            z = X @ w + b
            obj = np.mean(np.logaddexp(0, -ypm * z)) + a * np.abs(w).sum()
            cases.append(dict(table=table, estimator="logistic_l1", alpha=a, alpha_max=amax, fit_intercept=fit_intercept,
                              coef=w.tolist(), intercept=b, objective=obj))

    # Non-convex penalties against skglm (AndersonCD, tight tolerance).
    from skglm import GeneralizedLinearEstimator, MCPRegression
    from skglm.datafits import Quadratic
    from skglm.penalties import SCAD
    from skglm.solvers import AndersonCD
    for table in ["diabetes", "prostate"]:
        X, y = data[table]
        amax = alpha_max_quadratic(X, y, True)
        a = amax / 10
        m = MCPRegression(alpha=a, gamma=3, tol=1e-12, max_iter=1000, fit_intercept=True).fit(X, y)
        cases.append(dict(table=table, estimator="mcp", alpha=a, gamma=3.0, alpha_max=amax, fit_intercept=True,
                          coef=m.coef_.tolist(), intercept=float(m.intercept_), objective=None))
        m = GeneralizedLinearEstimator(Quadratic(), SCAD(alpha=a, gamma=3.7), AndersonCD(tol=1e-12, max_iter=1000, fit_intercept=True)).fit(X, y)
        cases.append(dict(table=table, estimator="scad", alpha=a, gamma=3.7, alpha_max=amax, fit_intercept=True,
                          coef=m.coef_.tolist(), intercept=float(m.intercept_), objective=None))

    with open(os.path.join(OUT, "glm_golden.json"), "w") as f:
        json.dump({"generator": "scripts/reference/make_glm_golden.py", "sklearn": __import__("sklearn").__version__,
                   "skglm": __import__("skglm").__version__, "cases": cases}, f, indent=1)
    print(len(cases), "cases")


if __name__ == "__main__":
    main()


def lasso_cv_golden():
    """LassoCV on diabetes (5 consecutive folds, 100 alphas, eps 1e-3): the chosen α.

    Printed, not written: tests/AmalgamGLMTests compares with the value below."""
    from sklearn.linear_model import LassoCV
    d = load_diabetes()
    m = LassoCV(cv=5, alphas=100, eps=1e-3, tol=1e-12, max_iter=1_000_000).fit(d.data, d.target)
    print("LassoCV diabetes alpha_", repr(m.alpha_))


def group_lasso_golden():
    """skglm GroupLasso on diabetes, groups [[0,1],[2,3,4],[5,6,7],[8,9]], default weights (1),
    α = 0.17690113034551785 (a tenth of α_max for weights √|g|), tol 1e-12 (printed; the test
    holds the values)."""
    from skglm import GroupLasso
    d = load_diabetes(); X, y = d.data, d.target
    groups = [[0, 1], [2, 3, 4], [5, 6, 7], [8, 9]]
    amax = max(np.linalg.norm(X[:, g].T @ (y - y.mean())) / len(y) / np.sqrt(len(g)) for g in groups)
    m = GroupLasso(groups=groups, alpha=amax / 10, tol=1e-12, max_iter=10000).fit(X, y)
    print(repr(amax / 10), m.coef_.tolist(), float(m.intercept_))


def slope_golden():
    """skglm SLOPE with FISTA (fixpoint, tol 1e-12, no intercept) on diabetes with y centred,
    λ = (α_max/10)·linspace(1, 0.1, 10) (printed; the test holds the values)."""
    from skglm import GeneralizedLinearEstimator
    from skglm.datafits import Quadratic
    from skglm.penalties import SLOPE
    from skglm.solvers import FISTA
    d = load_diabetes(); X, y = d.data, d.target - d.target.mean()
    lam = np.abs(X.T @ y).max() / len(y) / 10 * np.linspace(1, 0.1, 10)
    m = GeneralizedLinearEstimator(Quadratic(), SLOPE(alphas=lam), FISTA(max_iter=500000, tol=1e-12, opt_strategy="fixpoint")).fit(X, y)
    print(lam.tolist(), m.coef_.tolist())


def sparse_group_golden():
    """skglm WeightedL1GroupL2 (α = 0.3, unit weights) with GroupBCD (fixpoint, tol 1e-12, no
    intercept) on diabetes with y centred (printed; the test holds the values)."""
    from skglm import GeneralizedLinearEstimator
    from skglm.datafits import QuadraticGroup
    from skglm.penalties import WeightedL1GroupL2
    from skglm.solvers import GroupBCD
    from skglm.utils.data import grp_converter
    d = load_diabetes(); X, y = d.data, d.target - d.target.mean()
    groups = [[0, 1], [2, 3, 4], [5, 6, 7], [8, 9]]
    idx, ptr = grp_converter(groups, X.shape[1])
    pen = WeightedL1GroupL2(alpha=0.3, weights_groups=np.ones(4), weights_features=np.ones(10), grp_ptr=ptr, grp_indices=idx)
    m = GeneralizedLinearEstimator(QuadraticGroup(ptr, idx), pen, GroupBCD(tol=1e-12, max_iter=10000, fit_intercept=False, ws_strategy="fixpoint")).fit(X, y)
    print(m.coef_.tolist())


def logsum_golden():
    """skglm LogSumPenalty (ε = 1) with AndersonCD (tol 1e-12, intercept) on Prostate at
    α = α_max(L1)/10 (printed; the test holds the values)."""
    from skglm import GeneralizedLinearEstimator
    from skglm.datafits import Quadratic
    from skglm.penalties import LogSumPenalty
    from skglm.solvers import AndersonCD
    X, y = tables()["prostate"]
    a = alpha_max_quadratic(X, y, True) / 10
    m = GeneralizedLinearEstimator(Quadratic(), LogSumPenalty(alpha=a, eps=1.0), AndersonCD(tol=1e-12, max_iter=1000, fit_intercept=True)).fit(X, y)
    print(repr(a), m.coef_.tolist(), float(m.intercept_))
