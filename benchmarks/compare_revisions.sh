#!/usr/bin/env bash
# The default experiment and the U-Net segmentation experiment, trained by an older revision of cnnjax and by
# this checkout, alternately in one run: test accuracy, test mIoU and whole-run wall time side by side.
#
#   benchmarks/compare_revisions.sh OLD_REV [ROUNDS]
#
# The old revision is checked out into a temporary git worktree and run with this checkout's virtual
# environment (.venv), with its own data and compilation-cache directories; nothing of this checkout changes.
set -euo pipefail
old_rev=${1:?usage: benchmarks/compare_revisions.sh OLD_REV [ROUNDS]}
rounds=${2:-1}
repo=$(cd "$(dirname "$0")/.." && pwd)
python="$repo/.venv/bin/python"
scratch=$(mktemp -d)
trap 'git -C "$repo" worktree remove --force "$scratch/old" >/dev/null 2>&1 || true; rm -rf "$scratch"' EXIT
git -C "$repo" worktree add --detach "$scratch/old" "$old_rev" >/dev/null
export CNNJAX_DATA_DIR="$scratch/data" CNNJAX_CACHE_DIR="$scratch/cache"

train() {  # train TREE CONFIG WORKDIR -> prints "seconds summary-json"
  local tree=$1 config=$2 workdir=$3 start end
  start=$(date +%s.%N)
  (cd "$tree" && PYTHONPATH="$tree" "$python" -m cnnjax.cli train --config "$tree/experiments/$config" --workdir "$workdir" >/dev/null)
  end=$(date +%s.%N)
  echo "$(awk -v a="$start" -v b="$end" "BEGIN{print b-a}") $(tr -d "\n" < "$workdir/summary.json")"
}

printf '%-6s %-8s %-28s %10s %8s\n' round code experiment test wall_s
for round in $(seq "$rounds"); do
  for config in digits_lenet5.py shapes_segmentation.py; do
    for code in old new; do
      tree=$([ "$code" = old ] && echo "$scratch/old" || echo "$repo")
      read -r seconds summary < <(train "$tree" "$config" "$scratch/runs/$round-$code-$config")
      metric=$("$python" -c 'import json,sys; s=json.loads(sys.argv[1]); print(s.get("test_accuracy", s.get("test_miou")))' "$summary")
      printf '%-6s %-8s %-28s %10.4f %8.1f\n' "$round" "$code" "$config" "$metric" "$seconds"
    done
  done
done
