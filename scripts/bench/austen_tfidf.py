"""The large sparse design of the GLM benchmark: TF-IDF of Jane Austen's paragraphs.

Documents are paragraphs (maximal runs of non-blank lines, joined with one space) of the six
novels from Debian's r-cran-janeaustenr; features are scikit-learn's
TfidfVectorizer(min_df=2, ngram_range=(1, 2)) (≈ 10,300 × 75,000, 0.13 % dense). Targets:
ln(paragraph length in characters) for regression, and Emma (+1) vs the other five novels (−1)
for classification. Writes two LIBSVM files (same X):

    python3 scripts/bench/austen_tfidf.py OUT_DIR     # → OUT_DIR/austen_tfidf_{reg,clf}.svm

Needs scikit-learn and rdata (pip) and r-cran-janeaustenr (apt).
"""
import os
import sys

import numpy as np
from sklearn.datasets import dump_svmlight_file
from sklearn.feature_extraction.text import TfidfVectorizer

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../reference"))
from make_transformer_fixtures import austen_novels  # noqa: E402


def paragraphs():
    docs, novel = [], []
    for name, lines in sorted(austen_novels().items()):
        current = []
        for line in lines + [""]:
            if line.strip():
                current.append(line.strip())
            elif current:
                docs.append(" ".join(current)); novel.append(name); current = []
    return docs, novel


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out, exist_ok=True)
    docs, novel = paragraphs()
    X = TfidfVectorizer(min_df=2, ngram_range=(1, 2)).fit_transform(docs).tocsr()
    y_reg = np.log([len(d) for d in docs])
    y_clf = np.array([1.0 if n == "emma" else -1.0 for n in novel])
    dump_svmlight_file(X, y_reg, os.path.join(out, "austen_tfidf_reg.svm"), zero_based=False)
    dump_svmlight_file(X, y_clf, os.path.join(out, "austen_tfidf_clf.svm"), zero_based=False)
    print(f"{X.shape[0]} documents × {X.shape[1]} features, {X.nnz} non-zeros ({100 * X.nnz / X.shape[0] / X.shape[1]:.3f} %)")


if __name__ == "__main__":
    main()
