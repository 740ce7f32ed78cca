"""Golden values for the diversity tests (Tests/AmalgamDiversityTests/Fixtures).

- digits200.csv: the first 200 rows of scikit-learn's digits (64 pixels 0–16, label last).
- diversity_golden.json:
  * the multinomial logistic probe: scikit-learn 1.9 LogisticRegression(C = 1/(N·λ), lbfgs,
    tol 1e-12) on the 200 digits standardised by StandardScaler, λ = 0.01 — coefficients (D × C),
    intercepts, training accuracy;
  * rank correlations of fixed vectors with ties: scipy.stats spearmanr, kendalltau (τ-b), pearsonr;
  * the PCA spectrum of the standardised digits sample (numpy eigvalsh of the ddof=1 covariance).

    /work/venv-ref/bin/python scripts/reference/make_diversity_golden.py   # scikit-learn 1.9.1, scipy
"""
import gzip
import json
import os

import numpy as np
import scipy.stats as st
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

OUT = os.path.join(os.path.dirname(__file__), "../../Tests/AmalgamDiversityTests/Fixtures")


def main():
    path = os.path.join(os.path.dirname(sklearn.__file__), "datasets/data/digits.csv.gz")
    rows = np.loadtxt(gzip.open(path), delimiter=",")[:200]
    with open(os.path.join(OUT, "digits200.csv"), "w") as f:
        for r in rows:
            f.write(",".join(str(int(v)) for v in r) + "\n")
    X, y = rows[:, :64], rows[:, 64].astype(int)
    Xs = StandardScaler().fit_transform(X)
    lam = 0.01
    m = LogisticRegression(C=1 / (len(y) * lam), solver="lbfgs", tol=1e-12, max_iter=100000).fit(Xs, y)
    x = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0]
    z = [2.0, 7.0, 1.0, 8.0, 2.0, 8.0, 1.0, 8.0, 2.0, 8.0]
    cov = np.cov(Xs, rowvar=False, ddof=1)
    golden = {
        "generator": "scripts/reference/make_diversity_golden.py", "sklearn": sklearn.__version__,
        "probe": {"lambda": lam, "coef": m.coef_.T.tolist(), "intercept": m.intercept_.tolist(), "train_accuracy": m.score(Xs, y)},
        "correlation": {"x": x, "y": z, "spearman": st.spearmanr(x, z).statistic, "kendall": st.kendalltau(x, z).statistic,
                        "pearson": st.pearsonr(x, z).statistic},
        "spectrum": sorted(np.linalg.eigvalsh(cov).tolist(), reverse=True),
    }
    with open(os.path.join(OUT, "diversity_golden.json"), "w") as f:
        json.dump(golden, f, indent=1)
    print(golden["correlation"], golden["probe"]["train_accuracy"])


if __name__ == "__main__":
    main()
