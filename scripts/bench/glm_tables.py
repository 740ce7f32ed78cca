"""Two harder designs for the GLM benchmark, from Debian's R packages (no network needed).

- **dna**: the StatLog DNA splice-junction data (R package mlbench, `DNA`): 3,186 sequences ×
  180 binary indicator features (three per base of a 60-base window), the LIBSVM "dna" set's
  source. Target: +1 for class "n" (no junction, 1,654) and −1 for the two junction classes
  ("ei", "ie"). The columns are strongly dependent (at most one of each base's three indicators
  is 1: A = 100, C = 010, G = 001, T = 000), which makes coordinate descent slow.
- **spam (standardised)**: the HP spam e-mail data (R package kernlab, `spam`): 4,601 messages ×
  57 word, character and capital-run frequencies, each column standardised to mean 0 and
  standard deviation 1 (population), which spreads the heavy-tailed capital-run columns and makes
  a dense, ill-conditioned design. Target: +1 spam (1,813), −1 not spam (2,788).

Writes OUT_DIR/dna.svm (sparse, LIBSVM) and OUT_DIR/spam_std.csv (dense; header, target last):

    apt-get download r-cran-mlbench r-cran-kernlab && for f in r-cran-*.deb; do dpkg-deb -x $f /tmp/rpk; done
    python3 scripts/bench/glm_tables.py OUT_DIR [--root /tmp/rpk]   # needs rdata, numpy, scikit-learn

The R packages may also be installed with apt-get (then --root /).
"""
import argparse
import os
import warnings

import numpy as np
import rdata
from sklearn.datasets import dump_svmlight_file


def read(root, package, name):
    path = os.path.join(root, "usr/lib/R/site-library", package, "data", name + ".rda")
    if not os.path.exists(path):
        raise SystemExit(f"{path} not found: apt-get download r-cran-{package} and dpkg-deb -x it under --root")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rdata: "Unknown encoding. Assumed ASCII." (the files are ASCII)
        return rdata.read_rda(path)[name]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--root", default="/tmp/rpk")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)

    dna = read(a.root, "mlbench", "DNA")
    X = dna.iloc[:, :180].apply(lambda c: c.astype(int)).to_numpy(dtype=float)
    y = np.where(dna["Class"].astype(str).to_numpy() == "n", 1.0, -1.0)
    assert X.shape == (3186, 180) and set(np.unique(X)) <= {0.0, 1.0}
    dump_svmlight_file(X, y, os.path.join(a.out, "dna.svm"), zero_based=False)

    spam = read(a.root, "kernlab", "spam")
    X = spam.iloc[:, :57].to_numpy(dtype=float)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    y = np.where(spam["type"].astype(str).to_numpy() == "spam", 1.0, -1.0)
    assert X.shape == (4601, 57) and np.isfinite(X).all()
    header = ",".join([f"x{j}" for j in range(57)] + ["y"])
    np.savetxt(os.path.join(a.out, "spam_std.csv"), np.column_stack([X, y]), delimiter=",", header=header, comments="", fmt="%.17g")
    print(f"wrote {a.out}/dna.svm (3186×180) and {a.out}/spam_std.csv (4601×57)")


if __name__ == "__main__":
    main()
