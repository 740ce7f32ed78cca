#!/usr/bin/env python3
"""Writes N real sentences from Jane Austen's novels, one per line, for the embed benchmark.

    /tmp/venv-ref/bin/python scripts/bench/austen_sentences.py 2000 /tmp/austen.txt
"""
import os, random, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from make_transformer_fixtures import austen_sentences  # noqa: E402

n, path = int(sys.argv[1]), sys.argv[2]
random.seed(1)
with open(path, "w", encoding="utf-8") as f:
    f.write("\n".join(random.sample(austen_sentences(), n)) + "\n")
