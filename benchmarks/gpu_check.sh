#!/usr/bin/env bash
# cnnjax on one GPU of the `device` machine (H100/H200, jax 0.11.2 + CUDA plugin preinstalled, no network), one table
# at the end. About 4 minutes; every stage has its own time limit and all of them together BUDGET_S seconds.
#
#   setup     install .whl/ (made here by benchmarks/gpu_wheels.sh) and the project with --no-deps into /tmp/site:
#             the machine's own jax, jaxlib and CUDA plugin stay
#   smoke     import all of cnnjax, a small bf16 matmul jitted on the GPU (a failure here stops the script)
#   train     cnnjax train --config experiments/digits_lenet5.py; SIGTERM at ~40 % of its steps; the same command
#             resumes it to the end
#   resnet50  cnnjax benchmark: ResNet-50, bfloat16, batch 256, 224x224
#   resnet20  cnnjax benchmark: CIFAR ResNet-20, float32, batch 512, 32x32
#   pipeline  benchmarks/input_pipeline.py on 256 images at 0, 4 and all-core workers (cnnjax's column)
#
# Run from the repository root (the `run` tool starts there): bash benchmarks/gpu_check.sh
# Writes $OUT/gpu_check.log (everything), $OUT/resnet50.json, $OUT/resnet20.json and $OUT/table.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d)}
BUDGET_S=540
LOG=$OUT/gpu_check.log
WORK=$(mktemp -d)
SITE=/tmp/site
export CNNJAX_DATA_DIR=$WORK/data CNNJAX_CACHE_DIR=$WORK/cache PYTHONUNBUFFERED=1
export PYTHONPATH=$SITE${PYTHONPATH:+:$PYTHONPATH} PATH=$SITE/bin:$PATH
ROWS=()

stage() {  # stage NAME LIMIT_S COMMAND...: runs COMMAND under min(LIMIT_S, what is left of BUDGET_S), logged
  local name=$1 limit=$2 left=$((BUDGET_S - SECONDS)) start=$SECONDS status rc
  shift 2
  ((limit > left)) && limit=$left
  if ((limit < 10)); then
    ROWS+=("$name|skipped: time budget spent|0")
    return 1
  fi
  echo "=== $name (limit ${limit}s): $*" | tee -a "$LOG"
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$LOG"
  rc=${PIPESTATUS[0]}
  case $rc in
    0) status=ok ;;
    124 | 137) status="timed out after ${limit}s" ;;
    *) status="failed (exit $rc)" ;;
  esac
  ROWS+=("$name|$status|$((SECONDS - start))")
  return "$rc"
}

setup() {
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl &&
    python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir --upgrade --target "$SITE" . &&
    command -v cnnjax
}

smoke() {
  python3 - <<'EOF'
import jax
import jax.numpy as jnp

import cnnjax.benchmark, cnnjax.cli, cnnjax.train.loop  # noqa: E401,F401  the whole package imports on this jax

print("jax", jax.__version__, jax.devices())
assert jax.default_backend() == "gpu", f"backend is {jax.default_backend()}, not gpu"
x = jnp.ones((1024, 1024), jnp.bfloat16)
print("matmul sum", float(jax.jit(lambda a: (a @ a).astype(jnp.float32).sum())(x)))
EOF
}

train_preempt_resume() {  # SIGTERM once metrics.jsonl shows 40 % of the steps, then the same command to the end
  local config=experiments/digits_lenet5.py workdir=$WORK/digits first=$WORK/first_run.log
  local target pid step=0 rc
  target=$(python3 -c "from cnnjax.config import load_config; print(int(0.4 * load_config('$config').train.num_steps))") || return 1
  cnnjax train --config "$config" --workdir "$workdir" > >(tee "$first") 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null && ((step < target)); do
    sleep 0.2
    step=$(tail -n 1 "$workdir/metrics.jsonl" 2>/dev/null | python3 -c "import json, sys; print(json.loads(sys.stdin.read())['step'])" 2>/dev/null || echo 0)
  done
  kill -TERM "$pid" 2>/dev/null && echo "gpu_check: SIGTERM sent at logged step $step (target $target)"
  wait "$pid"
  rc=$?
  sleep 0.5  # tee's last lines
  ((rc == 0)) || return "$rc"
  grep -q "stopped by SIGTERM" "$first" || { echo "gpu_check: the first run was not stopped by the SIGTERM"; return 1; }
  cnnjax train --config "$config" --workdir "$workdir" &&
    python3 -c "import json; print('gpu_check: resumed to the end:', json.load(open('$workdir/summary.json')))"
}

pipeline() {  # cnnjax's column only: the machine's CUDA torch build is not the benchmark's reference
  python3 benchmarks/input_pipeline.py --images 256 --rounds 1 --workers "0,4,$(nproc)" --train-batches 8 \
    --eval-images $(((2 * $(nproc) + 8) * 128)) --no-torch
}

table() {  # the stages, then the benchmark figures
  printf '%-10s %-34s %6s\n' stage status seconds
  local row
  for row in "${ROWS[@]}"; do
    IFS='|' read -r name status seconds <<<"$row"
    printf '%-10s %-34s %6s\n' "$name" "$status" "$seconds"
  done
  python3 - "$OUT" <<'EOF'
import json, pathlib, sys

print(f"\n{'benchmark':10s} {'batch':>6s} {'dtype':9s} {'compile s':>9s} {'step ms':>8s} {'img/s':>8s} {'peak GiB':>8s} {'TFLOP/s':>8s} {'MFU':>6s}")
for name in ("resnet50", "resnet20"):
    path = pathlib.Path(sys.argv[1]) / f"{name}.json"
    if not path.exists():
        print(f"{name:10s} (no result)")
        continue
    r = json.loads(path.read_text())
    mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "n/a"
    print(
        f"{name:10s} {r['batch']:6d} {r['dtype']:9s} {r['compile_seconds']:9.1f} {r['step_seconds_median'] * 1e3:8.1f} "
        f"{r['images_per_second']:8.0f} {r['peak_memory_bytes_per_device'] / 2**30:8.2f} "
        f"{r['achieved_flops_per_second'] / 1e12:8.1f} {mfu:>6s}"
    )
EOF
}

export -f smoke setup train_preempt_resume pipeline
export WORK SITE
stage setup 90 bash -c setup || { table | tee "$OUT/table.txt"; exit 1; }
stage smoke 60 bash -c smoke || { table | tee "$OUT/table.txt"; exit 1; }
stage train 150 bash -c train_preempt_resume
stage resnet50 150 cnnjax benchmark --model resnet50 --batch 256 --image_size 224 --dtype bfloat16 --steps 20 \
  --json "$OUT/resnet50.json"
stage resnet20 90 cnnjax benchmark --model cifar_resnet20 --batch 512 --image_size 32 --num_classes 10 --steps 20 \
  --json "$OUT/resnet20.json"
stage pipeline 90 bash -c pipeline
echo | tee -a "$LOG"
table | tee "$OUT/table.txt" | tee -a "$LOG"
