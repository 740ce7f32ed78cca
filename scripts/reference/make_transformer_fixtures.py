#!/usr/bin/env python3
"""Fixtures for the tokenizer and sentence-embedding tests, from the reference implementations.

    apt-get install r-cran-janeaustenr          # Jane Austen's novels (R lazy-load data)
    scripts/setup-minilm.sh                     # all-MiniLM-L6-v2 into ~/.local/share/amalgam/
    python3 -m venv /tmp/venv-ref && /tmp/venv-ref/bin/pip install tokenizers rdata sentence-transformers torch==2.13.0
    /tmp/venv-ref/bin/python scripts/reference/make_transformer_fixtures.py

Writes Tests/AmalgamNNTests/Fixtures/tokenizer_cases.json (token ids from Hugging Face
`tokenizers` with the model's tokenizer.json, truncation at 128, no padding) and
embedding_cases.{json,safetensors} (sentence-transformers embeddings, max_seq_length 256).
"""
import json, os, random, re, struct, sys, zlib
import numpy as np

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
model_dir = os.environ.get("AMALGAM_MINILM", os.path.expanduser("~/.local/share/amalgam/all-MiniLM-L6-v2"))
fixtures = os.path.join(root, "Tests", "AmalgamNNTests", "Fixtures")


def austen_novels():
    """The six novels as lists of lines, read from r-cran-janeaustenr's lazy-load database."""
    import rdata
    base = "/usr/lib/R/site-library/janeaustenr/data/Rdata"
    variables = rdata.conversion.convert(rdata.parser.parse_file(base + ".rdx"))["variables"]
    raw = open(base + ".rdb", "rb").read()
    novels = {}
    for name, (off, length) in variables.items():
        chunk = raw[int(off):int(off) + int(length)]
        data = zlib.decompress(chunk[4:])  # 4-byte big-endian length, then zlib
        novels[str(name)] = [str(x) for x in rdata.conversion.convert(rdata.parser.parse_data(data))]
    return novels


def austen_sentences():
    sentences = []
    for name, lines in sorted(austen_novels().items()):
        text = " ".join(l.strip() for l in lines)
        for s in re.split(r"(?<=[.!?])\s+(?=[A-Z\"'_])", text):
            s = s.strip()
            if 3 <= len(s.split()) <= 120:
                sentences.append(s)
    return sentences


EDGE_CASES = [
    "", " ", "\t\n", "Hello, world!", "HELLO WORLD", "naïve café résumé Über Ångström", "Crème brûlée costs €4.50 — or £3?",
    "It's 3:45pm on 2024-01-02; call +1 (555) 010-9999.", "3.14159 2,718 1e-9 100% #1 @user $5",
    "Pneumonoultramicroscopicsilicovolcanoconiosis is long.", "x" * 99, "y" * 100, "z" * 101, "a" * 250 + " b",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "中文字符和English混合", "日本語のテキスト", "한국어 문장입니다", "Ελληνικά κείμενα", "Русский текст с ударе́нием",
    "emoji 😀 and ❤️ and 👍🏽", "tabs\tand\nnewlines\r\nand  double  spaces", "zero\u200bwidth and soft\u00adhyphen",
    "control\u0007bell and \u0000null and \ufffd replacement", "non\u00a0breaking\u2003em space\u3000ideographic",
    "«quotes» „German“ ‘single’ “double”", "dashes – — ‐ and ellipsis…", "a.b.c d-e-f g_h_i j/k\\l",
    "[CLS] [SEP] [MASK] [PAD] [UNK] special-looking", "İstanbul ǅungla ß ﬁ ligature", "Mr. Darcy's 10,000 a year!!!",
    "unaffable unbelievable reconsideration", "ÀÉÎÕÜ àéîõü çñ", "🙂" * 5, "...", "?!", "(((nested)))",
]


def main():
    from tokenizers import Tokenizer
    random.seed(0)
    pool = austen_sentences()
    chosen = random.sample(pool, 1000)
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=128)
    cases = []
    for text in chosen + EDGE_CASES + [" ".join(random.sample(pool, 12))]:  # the last one needs truncation
        e = tok.encode(text)
        cases.append({"text": text, "ids": e.ids, "type_ids": e.type_ids})
    for a, b in [(chosen[0], chosen[1]), ("Short one.", " ".join(random.sample(pool, 10))), ("", "Only the second."), (chosen[2], "")]:
        e = tok.encode(a, b)
        cases.append({"text": a, "pair": b, "ids": e.ids, "type_ids": e.type_ids})
    with open(os.path.join(fixtures, "tokenizer_cases.json"), "w", encoding="utf-8") as f:
        json.dump({"generator": "scripts/reference/make_transformer_fixtures.py", "max_length": 128, "cases": cases}, f, ensure_ascii=False, indent=0)

    from sentence_transformers import SentenceTransformer
    from safetensors.numpy import save_file
    model = SentenceTransformer(model_dir, device="cpu")
    sentences = ["A man is eating food.", "A man is eating a piece of bread.", "The new movie is awesome.", "",
                 "naïve café — 3.14!", "中文字符和English混合", " ".join(random.sample(pool, 25))]  # the last exceeds 256 tokens
    sentences += random.sample(pool, 53)
    emb = model.encode(sentences, batch_size=16, convert_to_numpy=True, normalize_embeddings=False)
    save_file({"embeddings": emb.astype(np.float32)}, os.path.join(fixtures, "embedding_cases.safetensors"),
              metadata={"generator": "scripts/reference/make_transformer_fixtures.py", "max_seq_length": str(model.max_seq_length)})
    with open(os.path.join(fixtures, "embedding_cases.json"), "w", encoding="utf-8") as f:
        json.dump({"sentences": sentences}, f, ensure_ascii=False, indent=0)
    print(len(cases), "tokenizer cases;", len(sentences), "embeddings; max_seq_length", model.max_seq_length)


if __name__ == "__main__":
    main()
