#!/usr/bin/env bash
# Every stage of the study on a CUDA GPU, on the ISIC 2017 256-px images, in about six minutes on an H200:
# prepare → GAN throughput (fp32 / AMP / AMP + channels_last vs plain PyTorch) → SNGAN-64 1,000 steps (the
# baselines.md budget) → Ctrl-C and --resume under AMP → torchrun (one process: the launcher path; one GPU cannot host two NCCL ranks) → sample → evaluate-gan → classifier
# (EfficientNet-Lite0, 6 epochs, 128 px) → evaluate-classifier → a small augmentation experiment.
#
#     scripts/gpu_check.sh ../shared/data/isic2017-256 /tmp/gpu_check
#
# Each stage has its own time limit and its own log; a failed stage is reported and the next one still runs.
# The summary at the end lists every stage with its exit status and wall time, then the numbers worth quoting.
set -uo pipefail

DATA=${1:?usage: scripts/gpu_check.sh ISIC2017_256_FOLDER OUT_FOLDER}
WORK=${2:?usage: scripts/gpu_check.sh ISIC2017_256_FOLDER OUT_FOLDER}
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}            # DEVICE=cpu with small budgets below checks the script itself on a CPU
GAN_STEPS=${GAN_STEPS:-1000}      # baselines.md: 1,000 iterations of batch 64 at 64 px
BENCH_STEPS=${BENCH_STEPS:-40}
EPOCHS=${EPOCHS:-6}
N_FAKE=${N_FAKE:-2000}
RESUME_STEPS=${RESUME_STEPS:-2000}  # the Ctrl-C lands after 20 s, the resumed run finishes these
TORCHRUN_STEPS=${TORCHRUN_STEPS:-60}
SKINGAN="$PY -m skingan"
mkdir -p "$WORK/logs"
export PYTHONUNBUFFERED=1 SKINGAN_CACHE="$WORK/cache"
SUMMARY="$WORK/summary.txt"
: >"$SUMMARY"

stage() {  # stage NAME LIMIT_S COMMAND...: run with a limit, log to logs/NAME.txt, record status and time
    local name=$1 limit=$2
    shift 2
    local started=$SECONDS
    echo "=== $name (limit ${limit}s): $*"
    timeout --preserve-status -s INT -k 20 "$limit" "$@" >"$WORK/logs/$name.txt" 2>&1
    local code=$?
    printf '%-22s exit %3d  %4ds\n' "$name" "$code" "$((SECONDS - started))" | tee -a "$SUMMARY"
    tail -n 4 "$WORK/logs/$name.txt"
    return 0
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$SUMMARY"
$PY -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())" | tee -a "$SUMMARY"

P="$WORK/prepared"
stage prepare 120 $SKINGAN prepare --source folder --input "$DATA" --labels labels.csv --image-col image \
    --label-col target --id-col isic_id --keep-split split --sizes 64 128 --workers 8 --out "$P"

stage bench-gan 120 $PY scripts/bench_gan.py --device $DEVICE --data "$P" --modes fp32,amp,amp_cl \
    --configs dcgan64-seed,sngan128 --steps $BENCH_STEPS --warmup 5 --repeats 2 --json "$WORK/bench_gan.json"

G="$WORK/gan/sngan64"
stage train-gan 120 $SKINGAN train-gan --config sngan64 --data "$P" --device $DEVICE --seed 0 \
    --set train.steps=$GAN_STEPS --set train.log_every=50 --out "$G"

R="$WORK/gan/resume"
RESUME_ARGS=(train-gan --config dcgan128 --data "$P" --device $DEVICE --seed 1 --set train.steps=$RESUME_STEPS
    --set train.checkpoint_every=100000 --set train.log_every=20 --out "$R")
stage ctrl-c 20 $SKINGAN "${RESUME_ARGS[@]}"
stage resume 120 $SKINGAN "${RESUME_ARGS[@]}" --resume

stage torchrun-1proc 90 $PY -m torch.distributed.run --standalone --nproc_per_node=1 -m skingan train-gan \
    --config wgan64 --data "$P" --device $DEVICE --seed 2 --set train.steps=$TORCHRUN_STEPS --set train.log_every=20 \
    --out "$WORK/gan/torchrun"

S="$WORK/samples/sngan64"
stage sample 60 $SKINGAN sample --checkpoint "$G/checkpoints/last.pt" --n $N_FAKE --class malignant --seed 0 \
    --device $DEVICE --out "$S"
stage evaluate-gan 150 $SKINGAN evaluate-gan --samples "$S" --data "$P" --class malignant --n $N_FAKE \
    --device $DEVICE --out "$WORK/eval/sngan64"

C="$WORK/classifier/lite0"
stage train-classifier 150 $SKINGAN train-classifier --data "$P" --device $DEVICE --seed 0 --set data.workers=6 --set train.epochs=$EPOCHS --out "$C"
stage evaluate-classifier 60 $SKINGAN evaluate-classifier --checkpoint "$C/checkpoints/best.pt" --data "$P" \
    --split val --device $DEVICE --out "$WORK/classifier/lite0-val"

stage experiment 120 $SKINGAN experiment --config augmentation --data "$P" --synthetic "$S" --seeds 2 \
    --set "study.conditions=[real-aug,synthetic,balanced]" --set "study.ratios=[0.5]" \
    --set classifier.train.epochs=$((EPOCHS > 4 ? 4 : EPOCHS)) --set classifier.data.workers=6 \
    --device $DEVICE --out "$WORK/experiment"

echo
echo "=== summary"
cat "$SUMMARY"
$PY - "$WORK" <<'EOF'
import json, sys
from pathlib import Path

work = Path(sys.argv[1])
def show(label, path, keys):
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        print(f"{label}: unavailable ({error})")
        return
    for key in keys:
        print(f"{label} {key}: {data.get(key)}")

show("evaluate-gan", work / "eval/sngan64/metrics.json", ["fd", "fd_noise_floor", "kid_mean", "kid_std",
     "precision", "recall", "density", "coverage"])
show("classifier", work / "classifier/lite0/metrics.json", ["best_val_auc", "best_epoch", "epochs_run",
     "train_seconds", "auc", "auc_ci_low", "auc_ci_high"])
show("classifier val", work / "classifier/lite0-val/metrics.json", ["auc", "auc_ci_low", "auc_ci_high",
     "balanced_accuracy"])
for table in ("experiment/summary.md", "experiment/conclusion.md"):
    path = work / table
    print(path.read_text() if path.is_file() else f"{table}: missing")
EOF
