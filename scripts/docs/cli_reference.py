#!/usr/bin/env python3
"""Writes docs/cli.md: the option vocabulary (below) and, for every command, its options as the
built binary describes them (`amalgam --experimental-dump-help`) with an example.

    python3 scripts/docs/cli_reference.py [.build/debug/amalgam] > docs/cli.md

The CLI tests check that every command and every visible option appears in docs/cli.md, so a new
option that is not documented fails CI; rerun this script after changing the CLI.
"""
import json
import subprocess
import sys

binary = sys.argv[1] if len(sys.argv) > 1 else ".build/debug/amalgam"
tree = json.loads(subprocess.run([binary, "--experimental-dump-help"], check=True, capture_output=True, text=True).stdout)

EXAMPLES = {
    "train": "amalgam train --model cnn --epochs 5 --seed 0 --out runs/cnn",
    "evaluate": "amalgam evaluate --checkpoint runs/cnn/model.safetensors --json",
    "predict": "amalgam predict --checkpoint runs/cnn/model.safetensors --out predictions.csv   # or --images x.npy, --images - < x.npy",
    "export": "amalgam export --checkpoint runs/cnn/model.safetensors --out cnn.onnx   # or --model-dir DIR for a text model",
    "merge": "amalgam merge --model cnn --budget-epochs 12 --teachers 2 --seeds 0,1,2 --out runs/merge-cnn",
    "glm fit": "amalgam glm fit --data table.csv --penalty l1 --alpha-ratio 0.1 --out model.json",
    "glm path": "amalgam glm path --data table.csv --penalty mcp --gamma 3 --n-alphas 50 --out path.json",
    "glm predict": "amalgam glm predict --checkpoint model.json --data new.csv --out predictions.csv",
    "diversity": "amalgam diversity --checkpoint runs/cnn/model.safetensors --samples 5000 --draws 3 --out d.json",
    "transfer": "amalgam transfer --checkpoint runs/cnn/model.safetensors --downstream digits --out t.json",
    "diversity-study": "amalgam diversity-study --dir runs/diversity",
    "coreset": "amalgam coreset --method craig --fraction 0.1 --model cnn --seed 0 --out runs/craig",
    "finetune": "amalgam finetune --task austen --epochs 3 --out runs/minilm-austen",
    "prune": "amalgam prune --model-dir runs/minilm-austen --task austen --constraint 0.6 --out runs/prune-0.6",
    "embed": "amalgam embed --input sentences.txt --out embeddings.npy   # --input - reads standard input",
    "similarity": "amalgam similarity \"A man is eating food.\" \"A man is eating bread.\" \"The movie is awesome.\"",
    "moe train": "amalgam moe train --router stablemoe --experts 8 --steps 1000 --seed 0 --out runs/moe/stablemoe",
    "moe finetune": "amalgam moe finetune --from runs/moe/stablemoe --task austen --freeze-router --out runs/moe/stablemoe-ft",
    "moe report": "amalgam moe report runs/moe/*/seed* --out rows.json",
    "moe multitask": "amalgam moe multitask --from runs/moe/dense --routing task --out runs/moe/multitask",
    "moe extract": "amalgam moe extract --from runs/moe/multitask --task novel --out runs/moe/novel",
    "moe upcycle": "amalgam moe upcycle --from runs/moe/dense --router switch --experts 8 --out runs/moe/rmoe",
    "layers list": "amalgam layers list --json",
    "layers compare": "amalgam layers compare --attention none,se,cbam,qna --seeds 0,1,2 --out runs/attention",
    "layers report": "amalgam layers report --out runs/attention",
    "layers profile": "amalgam layers profile --attention all --out runs/attention",
    "layers scaling": "amalgam layers scaling --windows 3,5,7,9 --out runs/attention",
    "dash search": "amalgam dash search --dataset fashion-mnist --kernels 3,5,7,9 --dilations 1,2,3 --out runs/dash/s0",
    "dash retrain": "amalgam dash retrain --from runs/dash/s0 --out runs/dash/s0-retrain",
    "dash study": "amalgam dash study --dataset austen-chars --seeds 0,1,2 --out runs/dash/austen",
    "dash report": "amalgam dash report --out runs/dash/austen",
    "dash costs": "amalgam dash costs --out runs/dash/costs",
    "nas space": "amalgam nas space --json",
    "nas score": "amalgam nas score --arch '|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|' --proxy all",
    "nas table": "amalgam nas table --cells 200 --out runs/nas/table",
    "nas search": "amalgam nas search --method tenas --budget-seconds 900 --out runs/nas/tenas",
    "nas train": "amalgam nas train --search runs/nas/tenas/search.json --seeds 0,1,2 --out runs/nas/retrain",
    "diffusion train": "amalgam diffusion train --data WAVS --validation VAL --out runs/fastdiff/model --steps 7000",
    "diffusion schedule": "amalgam diffusion schedule --model-dir runs/fastdiff/model --steps 4 --out schedule-4.json",
    "diffusion evaluate": "amalgam diffusion evaluate --model-dir runs/fastdiff/model --data WAVS --set real --out runs/fastdiff/eval",
    "vocode": "amalgam vocode --model-dir runs/fastdiff/model --wav speech.wav --steps 4 --out out.wav",
}

HEAD = """# The `amalgam` command line

One vocabulary across every command; the reference below is generated from the binary
(`python3 scripts/docs/cli_reference.py > docs/cli.md`) and checked by the CLI tests, so it lists
every command and option there is. `amalgam COMMAND --help` prints the same, with defaults.

## The vocabulary

| option | meaning | where |
|---|---|---|
| `--model NAME` | an **architecture** of the zoo: `mlp`, `cnn`, `vgg`, `resnet20` | train, merge, coreset; evaluate, diversity, transfer (optional: the checkpoint's metadata names it) |
| `--model-dir DIR` | a **model directory** (config.json + weights): the sentence encoder, a fine-tuned classifier, a vocoder | embed, similarity, finetune, prune, vocode, diffusion schedule/evaluate |
| `--checkpoint FILE` | a **file of trained weights** (model.safetensors from train/merge) or a fitted GLM (glm fit's JSON) | evaluate, predict, diversity, transfer, glm predict |
| `--from DIR` | an earlier **run's output directory** a command continues from | moe finetune/multitask/extract/upcycle, dash retrain |
| `--data FILE/DIR` | the data itself (a table, a folder of WAV files) | glm, diffusion |
| `--dataset NAME`, `--data-dir DIR` | a named image dataset and where its files are (default `$AMALGAM_DATA`, else the Debian package's folder) | train, evaluate, predict, merge, coreset, … |
| `--out PATH` | where the result goes: a directory for runs, a file for single results; every command writes there, never elsewhere | everywhere |
| `--input PATH` | text or arrays to read; `-` is standard input | embed, predict |
| `--seed N` | the one seed of a single run | every command with randomness |
| `--seeds LIST` | several runs, one per seed: `0,1,2` or `0-9` | merge, layers compare, dash study, nas train |
| `--lr X` | the (peak) learning rate; `--<phase>-lr` for a phase's own | everywhere |
| `--threads N` | threads for the kernels, OpenBLAS and oneDNN (default: all cores) | every command that computes |
| `--quiet` | print nothing but errors | every command that computes |
| `--json` | print the command's result as one JSON document on standard output, nothing else there | every command that computes; `layers list`, `nas space`, `moe report` |
| `--resume` | continue the run saved in `--out` (long commands resume by phase without it) | train, merge, coreset, finetune, moe, diffusion train |

Old spellings kept, hidden, for one release: `--model DIR` where a directory is meant (now
`--model-dir`), `embed --output` (now `--out`), `finetune --learning-rate` (now `--lr`), `glm
predict --model` (now `--checkpoint`). `moe report --json FILE` became `--out FILE` (`--json` is
now the flag every command has).

Errors go to standard error as one line naming what is wrong and where, with exit status 1; an
interrupted run (Ctrl-C, SIGTERM) saves what it has and exits with 130. `amalgam --version`
prints the release, the commit the binary was built from, the build configuration and the backend.

Outputs users read elsewhere: per-example tables (`predict`, `glm predict`) as CSV (default,
standard output), JSON lines or NPY by the `--out` extension; metrics as JSON lines; summaries as
JSON; weights as safetensors with PyTorch-style names; charts as SVG.

## Commands
"""

def leaves(c, path):
    subs = [s for s in c.get("subcommands", []) if s["commandName"] != "help"]
    if not subs and path:
        yield path, c
    for s in subs:
        yield from leaves(s, (path + " " + s["commandName"]).strip())

out = [HEAD]
for path, c in leaves(tree["command"], ""):
    out.append(f"\n### amalgam {path}\n\n{c.get('abstract', '')}\n")
    if path in EXAMPLES:
        out.append(f"\n```sh\n{EXAMPLES[path]}\n```\n")
    rows = []
    for a in c.get("arguments", []):
        if not a.get("shouldDisplay", True):
            continue
        longs = [n["name"] for n in a.get("names", []) if n["kind"] == "long"]
        if longs and longs[0] in ("help", "version"):
            continue
        value = "" if a["kind"] == "flag" else f" <{a.get('valueName', 'value')}>"
        if longs:
            name = " / ".join(f"`--{n}{value if i == 0 else ''}`" for i, n in enumerate(longs))
        else:
            name = "`<" + a.get("valueName", "value") + ">`"
        default = a.get("defaultValue")
        values = a.get("allValues")
        text = a.get("abstract", "").replace("|", "\\|")
        if values:
            text += f" ({', '.join(values)})"
        if default is not None and a["kind"] != "flag":
            text += f" Default: `{default}`."
        rows.append(f"| {name} | {text} |")
    if rows:
        out.append("\n| option | meaning |\n|---|---|\n" + "\n".join(rows) + "\n")
sys.stdout.write("".join(out))
