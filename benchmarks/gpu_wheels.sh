#!/usr/bin/env bash
# Downloads into .whl/ the Python 3.12 wheels of cnnjax's dependencies that the `device` GPU machine lacks or may hold
# too old (its image has jax 0.11.2 with the CUDA 13 plugin, flax, optax, orbax-checkpoint, numpy, pillow, scikit-learn,
# matplotlib, tqdm, filelock, ... but no network), at the versions of requirements/constraints.txt.
# benchmarks/gpu_check.sh installs them there; `.whl` travels by naming it in the run's `carry`.
#
#   bash benchmarks/gpu_wheels.sh        # from the repository root, with network to the package index
set -euo pipefail
cd "$(dirname "$0")/.."
# protobuf too: the generated code in tensorflow-metadata and googleapis-common-protos needs a runtime >= 6.33.5,
# and the machine's own version is not known here.
CARRIED=(ml_collections tensorflow-datasets grain array_record tensorboardX importlib_resources dm-tree
  immutabledict simple-parsing docstring_parser tensorflow-metadata googleapis-common-protos termcolor
  toml portpicker tzdata protobuf)
PURE_SOURCE_ONLY=(promise)  # published as source only: built here into a py3-none-any wheel
grep -qx '/.whl/' .gitignore || { echo ".whl/ must be ignored (.gitignore) so that only carry moves it" >&2; exit 1; }
rm -rf .whl && mkdir .whl
pin() { grep -i "^$1==" requirements/constraints.txt || { echo "$1 is not in requirements/constraints.txt" >&2; exit 1; }; }
for name in "${PURE_SOURCE_ONLY[@]}"; do
  python3 -m pip wheel -q --no-deps -w .whl "$(pin "$name")"
done
for name in "${CARRIED[@]}"; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "$(pin "$name")"
done
du -sh .whl
