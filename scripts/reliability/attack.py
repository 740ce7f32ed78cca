#!/usr/bin/env python3
"""Crafted-input attack on the amalgam binary: the cases of issue 25's "Why", as an attacker
would try them. Every case must end in a clean refusal (exit status 1-3, a one-line message on
standard error naming the file, field or option, no platform error text), or, where the input is
legitimate, succeed; never a crash (signal), hang (time limit) or memory blow-up (peak RSS).

    python3 scripts/reliability/attack.py [--binary .build/release/amalgam] [--out attack.jsonl]

Prints one line per case and a summary; exits 1 if any case fails. Cases use small synthetic
files written into a temporary directory (named synthetic: this is a robustness test, not a
result), plus the Fashion-MNIST files where a real dataset is needed.
"""
import argparse, gzip, json, os, resource, signal, struct, subprocess, sys, tempfile, time

PLATFORM_TEXT = ["NSCocoaErrorDomain", "Error Domain=", "Fatal error", "EncodingError", "DecodingError",
                 "Swift/", "Stack dump", "UserInfo=", "NSFilePath", "nan,", ": nan", "[nan", "inf,"]
LIMIT_S = 60
LIMIT_RSS_MB = 1500


def safetensors(tensors, metadata=None, raw_header=None, data=b""):
    header = raw_header if raw_header is not None else {**({"__metadata__": metadata} if metadata else {}), **tensors}
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def f32(values):
    return struct.pack("<%df" % len(values), *values)


def idx(shape, payload=b""):
    return bytes([0, 0, 8, len(shape)]) + b"".join(struct.pack(">I", d) for d in shape) + payload


def write(path, content, mode="wb"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as f:
        f.write(content)
    return path


def bert_dir(root, name, config, vocab=None, weights=None):
    d = os.path.join(root, name)
    base = {"vocab_size": 6, "hidden_size": 4, "num_hidden_layers": 1, "num_attention_heads": 2,
            "intermediate_size": 8, "max_position_embeddings": 16, "type_vocab_size": 2,
            "hidden_act": "gelu", "layer_norm_eps": 1e-12}
    base.update(config)
    write(d + "/config.json", json.dumps(base).encode())
    write(d + "/vocab.txt", (vocab or "[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\ncat\n").encode())
    write(d + "/model.safetensors", weights if weights is not None else safetensors({"x": {"dtype": "F32", "shape": [1024], "data_offsets": [0, 4096]}}, data=f32([0] * 1024)))
    return d


def unwritable_dir(root):
    """A directory this user cannot create files in (root ignores permissions: /proc then)."""
    if os.geteuid() == 0:
        return "/proc/amalgam-unwritable"
    os.makedirs(f"{root}/ro", exist_ok=True)
    os.chmod(f"{root}/ro", 0o500)
    return f"{root}/ro"


def cases(root, data_dir):
    C = []
    def case(name, argv, expect="error", stdin=None, must_mention=None):
        C.append(dict(name=name, argv=argv, expect=expect, stdin=stdin, mention=must_mention))

    # --- integer overflow on sizes read from files
    p = write(f"{root}/st-overflow.safetensors", safetensors({"w": {"dtype": "F32", "shape": [2**61], "data_offsets": [0, 4]}}, data=f32([0])))
    case("safetensors shape 2^61 F32", ["evaluate", "--checkpoint", p], must_mention="st-overflow")
    p = write(f"{root}/st-overflow2.safetensors", safetensors({"w": {"dtype": "F64", "shape": [2**31, 2**31], "data_offsets": [0, 8]}}, data=b"\0" * 8))
    case("safetensors shape 2^31 x 2^31 F64", ["evaluate", "--checkpoint", p], must_mention="st-overflow2")
    p = write(f"{root}/st-hugeoffset.safetensors", safetensors({"w": {"dtype": "F32", "shape": [1], "data_offsets": [2**63 - 4, 2**63]}}, data=f32([0])))
    case("safetensors offsets near 2^63", ["evaluate", "--checkpoint", p], must_mention="st-hugeoffset")
    p = write(f"{root}/st-neg.safetensors", safetensors({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, data=f32([0])))
    case("safetensors negative dimension", ["evaluate", "--checkpoint", p], must_mention="st-neg")
    d = f"{root}/idx-overflow"
    write(d + "/train-images-idx3-ubyte", idx([0xFFFFFFFF, 0xFFFFFFFF, 1], b"\0" * 16))
    write(d + "/train-labels-idx1-ubyte", idx([1], b"\0"))
    write(d + "/t10k-images-idx3-ubyte", idx([1, 28, 28], b"\0" * 784))
    write(d + "/t10k-labels-idx1-ubyte", idx([1], b"\0"))
    case("IDX two dimensions of 0xFFFFFFFF", ["train", "--dataset", "idx", "--data-dir", d, "--epochs", "1", "--out", f"{root}/o-idx"], must_mention="train-images")
    p = write(f"{root}/bigindex.libsvm", b"1 1:1 4611686018427387904:2\n0 2:1\n1 1:3\n")
    case("LIBSVM feature index 2^62", ["glm", "fit", "--data", p, "--alpha", "0.1"], must_mention="bigindex")
    p = write(f"{root}/overflowindex.libsvm", b"1 1:1 99999999999999999999999:2\n")
    case("LIBSVM feature index beyond Int64", ["glm", "fit", "--data", p, "--alpha", "0.1"], must_mention="overflowindex")
    for field in ["hidden_size", "intermediate_size", "max_position_embeddings", "num_hidden_layers", "vocab_size", "type_vocab_size"]:
        for value in [2**62, 10**6]:
            cfg = {field: value}
            if field == "hidden_size": cfg["num_attention_heads"] = 2
            d = bert_dir(root, f"bert-{field}-{value}", cfg)
            case(f"config.json {field} = {value}", ["embed", "--model-dir", d, "hello"], must_mention="config.json")
    d = bert_dir(root, "bert-eps-neg", {"layer_norm_eps": -1})
    case("config.json negative layer_norm_eps", ["embed", "--model-dir", d, "hello"], must_mention="layer_norm_eps")
    d = bert_dir(root, "bert-heads-neg", {"amalgam_layer_heads": [-5]})
    case("config.json negative layer heads", ["embed", "--model-dir", d, "hello"], must_mention="config.json")
    d = bert_dir(root, "bert-string", {"hidden_size": "big"})
    case("config.json hidden_size a string", ["embed", "--model-dir", d, "hello"], must_mention="config.json")

    # --- sizes trusted before anything is checked: checkpoint metadata and options
    for w in ["-3", "1000000", "9223372036854775807", "nan", "0"]:
        p = write(f"{root}/ck-width{w}.safetensors", safetensors({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, metadata={"model": "mlp", "width": w}, data=f32([0])))
        case(f"checkpoint metadata width {w}", ["evaluate", "--checkpoint", p], must_mention="width")
    for opt, v in [("--width", "-1"), ("--width", "0"), ("--width", "1000000"), ("--threads", "-1"), ("--threads", "0"), ("--threads", "100000"),
                   ("--batch-size", "0"), ("--batch-size", "-5"), ("--epochs", "-1"), ("--lr", "nan"), ("--lr", "-1"), ("--momentum", "nan"),
                   ("--label-smoothing", "2"), ("--label-smoothing", "-0.1"), ("--weight-decay", "inf"), ("--train-limit", "0"), ("--warmup-steps", "-4")]:
        case(f"train {opt} {v}", ["train", "--model", "mlp", "--epochs", "1", "--train-limit", "256", f"{opt}={v}", "--out", f"{root}/o-opt"], must_mention=opt)
    p = write(f"{root}/bigindex8.libsvm", b"1 1:1 100000000:2\n0 2:1\n1 1:3\n")
    case("LIBSVM one feature index 10^8", ["glm", "fit", "--data", p, "--alpha", "0.1"], must_mention="bigindex8")

    # --- unbounded decompression: a gzip bomb under an IDX name
    d = f"{root}/idx-bomb"
    bomb = gzip.compress(idx([60000, 28, 28]) + b"\0" * (1 << 30), compresslevel=9)
    write(d + "/train-images-idx3-ubyte.gz", bomb)
    write(d + "/train-labels-idx1-ubyte", idx([60000], b"\0" * 60000))
    write(d + "/t10k-images-idx3-ubyte", idx([1, 28, 28], b"\0" * 784))
    write(d + "/t10k-labels-idx1-ubyte", idx([1], b"\0"))
    case(f"gzip bomb ({len(bomb) / 1e6:.1f} MB inflating to 1 GB) as IDX", ["train", "--dataset", "idx", "--data-dir", d, "--epochs", "1", "--out", f"{root}/o-bomb"], must_mention="train-images")

    # --- quadratic work: one very long line to embed (needs MiniLM)
    minilm = os.environ.get("AMALGAM_MINILM", os.path.join(os.environ.get("XDG_DATA_HOME", os.path.expanduser("~/.local/share")), "amalgam/all-MiniLM-L6-v2"))
    if os.path.isdir(minilm):
        p = write(f"{root}/longline.txt", (" ".join(["word"] * 2_000_000) + "\n").encode())
        case("embed one line of 2 million words", ["embed", "--model-dir", minilm, "--input", p, "--out", f"{root}/long.npy"], expect="success")
        p = write(f"{root}/longword.txt", ("x" * 5_000_000 + "\n").encode())
        case("embed one word of 5 million letters", ["embed", "--model-dir", minilm, "--input", p, "--out", f"{root}/longw.npy"], expect="success")
        p = write(f"{root}/specials.txt", ("[SEP] " * 500_000 + "\n").encode())
        case("embed a line of 500,000 literal [SEP]", ["embed", "--model-dir", minilm, "--input", p, "--out", f"{root}/sep.npy"], expect="success")

    # --- raw platform errors instead of our messages
    f = write(f"{root}/a-file", b"x")
    case("--out is an existing file", ["train", "--model", "mlp", "--epochs", "1", "--train-limit", "256", "--out", f], must_mention="a-file")
    case("--out under a file", ["train", "--model", "mlp", "--epochs", "1", "--train-limit", "256", "--out", f + "/sub"], must_mention="a-file")
    ro = unwritable_dir(root)
    case("--out unwritable", ["train", "--model", "mlp", "--epochs", "1", "--train-limit", "256", "--out", f"{ro}/run"], must_mention=f"{ro}/run")
    case("glm --out is a directory", ["glm", "fit", "--data", write(f"{root}/ok.csv", b"a,b,y\n1,2,3\n2,1,4\n3,3,5\n4,1,2\n"), "--alpha", "0.1", "--out", root], must_mention=root)
    case("glm --out unwritable", ["glm", "fit", "--data", f"{root}/ok.csv", "--alpha", "0.1", "--out", f"{ro}/m.json"], must_mention=f"{ro}/m.json")
    case("embed --out is a directory", ["embed", "--model-dir", minilm, "hello", "--out", root], must_mention=root)
    p = write(f"{root}/huge.csv", b"a,b,y\n1e308,2,3\n-1e308,1,4\n1e308,3,5\n2,1e308,2\n")
    case("CSV values of 1e308", ["glm", "fit", "--data", p, "--alpha", "0.1"], must_mention="huge.csv")
    p = write(f"{root}/empty.csv", b"")
    case("empty CSV", ["glm", "fit", "--data", p, "--alpha", "0.1"], must_mention="empty.csv")
    p = write(f"{root}/headeronly.csv", b"a,b,y\n")
    case("CSV with a header only", ["glm", "fit", "--data", p, "--alpha", "0.1"], must_mention="headeronly.csv")
    d = f"{root}/npy-empty"
    import numpy as np
    os.makedirs(d, exist_ok=True)
    np.save(d + "/train_images.npy", np.zeros((0, 28, 28), np.uint8)); np.save(d + "/train_labels.npy", np.zeros((0,), np.int64))
    np.save(d + "/test_images.npy", np.zeros((2, 28, 28), np.uint8)); np.save(d + "/test_labels.npy", np.zeros((2,), np.int64))
    case("empty training set (npy)", ["train", "--model", "mlp", "--dataset", "npy", "--data-dir", d, "--epochs", "1", "--out", f"{root}/o-empty"], must_mention="train_images")

    # --- nonsense accepted silently
    d = bert_dir(root, "bert-maxlen0", {})
    write(d + "/sentence_bert_config.json", b'{"max_seq_length": 0, "do_lower_case": true}')
    case("sentence_bert_config max_seq_length 0", ["embed", "--model-dir", d, "hello"], must_mention="max_seq_length")
    p = write(f"{root}/na.csv", b"1,NA,3\n2,1,4\n3,3,5\n")
    case("CSV first row with NA", ["glm", "fit", "--data", p, "--alpha", "0.1"], must_mention="na.csv")
    case("--resume with nothing to resume", ["train", "--model", "mlp", "--epochs", "1", "--train-limit", "256", "--resume", "--out", f"{root}/o-noresume"],
         expect="notice", must_mention="--resume: nothing saved there yet")
    return C


def run(binary, c, env):
    start = time.time()
    proc = subprocess.Popen([binary] + c["argv"], stdin=subprocess.PIPE if c["stdin"] else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
    try:
        out, err = proc.communicate(c["stdin"], timeout=LIMIT_S)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        timed_out = True
    seconds = time.time() - start
    err = err.decode(errors="replace").strip()
    status = proc.returncode
    problems = []
    if timed_out: problems.append(f"hang (> {LIMIT_S} s)")
    elif status < 0: problems.append(f"crash (signal {-status})")
    if not timed_out and status >= 0:
        if c["expect"] == "error":
            if status == 0: problems.append("accepted (exit 0)")
            else:
                lines = [l for l in err.splitlines() if l.strip()]
                if status == 64:
                    # A usage error (ArgumentParser): the message, then the option's help, the usage line and a pointer to --help.
                    lines = [lines[0]] + [l for l in lines[1:] if not l.startswith(("Help:", "Usage:", "  See ", "       "))] if lines else lines
                lines = [l for l in lines if not l.startswith("warning: ")]
                if not lines: problems.append("no message")
                elif len(lines) > 1: problems.append(f"{len(lines)}-line message")
                if any(t in err for t in PLATFORM_TEXT): problems.append("platform text")
                if c["mention"] and c["mention"] not in err: problems.append(f"message does not name '{c['mention']}'")
        elif status != 0: problems.append(f"refused (exit {status})")
        elif c["expect"] == "notice" and c["mention"] not in out.decode(errors="replace") + err: problems.append(f"no notice '{c['mention']}'")
    text = (out.decode(errors="replace") if c["expect"] == "success" else "")
    if any(t in text for t in [": nan", "[nan", "nan,", "NaN"]): problems.append("bare nan in output")
    shown = [l for l in err.splitlines() if l.strip() and not l.startswith(("warning: ", "Help:", "Usage:", "  See "))]
    return dict(name=c["name"], argv=c["argv"], status=status, seconds=round(seconds, 2), message=shown[0] if shown else "",
                ok=not problems, problems=problems)


def peak_rss_run(binary, c, env):
    """Runs the case under /usr/bin/time-like accounting: a fresh child's own peak RSS."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        res = run(binary, c, env)
        res["rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        os.write(w, json.dumps(res).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk: break
        data += chunk
    os.waitpid(pid, 0)
    res = json.loads(data)
    if res["rss_mb"] > LIMIT_RSS_MB:
        res["problems"].append(f"memory ({res['rss_mb']:.0f} MB peak)"); res["ok"] = False
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=".build/release/amalgam")
    ap.add_argument("--out")
    ap.add_argument("--only", help="substring of the case names to run")
    a = ap.parse_args()
    env = dict(os.environ)
    results = []
    with tempfile.TemporaryDirectory() as root:
        for c in cases(root, None):
            if a.only and a.only not in c["name"]: continue
            res = peak_rss_run(os.path.abspath(a.binary), c, env)
            results.append(res)
            mark = "ok  " if res["ok"] else "FAIL"
            print(f"{mark} {res['name']:<48} exit {res['status']:>3} {res['seconds']:>6.1f} s {res['rss_mb']:>6.0f} MB  {'; '.join(res['problems']) or res['message'][:110]}", flush=True)
        os.chmod(f"{root}/ro", 0o700) if os.path.isdir(f"{root}/ro") else None
    bad = [r for r in results if not r["ok"]]
    print(f"{len(results) - len(bad)} of {len(results)} cases handled cleanly")
    if a.out:
        with open(a.out, "w") as f:
            for r in results: f.write(json.dumps(r) + "\n")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
