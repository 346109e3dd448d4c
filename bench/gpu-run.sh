#!/usr/bin/env bash
# The device side of bench/gpu-payload.sh, for one call of a lent GPU machine (no .NET SDK there):
#
#   bench/gpu-run.sh [PAYLOAD] STEP...      steps, in the order given: tests | poison | repeat | sanitize | golden | full | beside
#
# run from the repository root of a copy of the working tree, with $OUT a folder whose files come back:
#   tests   the Gpu test program on CUDA (MINICPM_GPU_TEST_DEVICE=cuda; the CUDA-only facts run too) → $OUT/tests.log
#   poison  the same with every new device buffer filled with 0xFF (MINICPM_GPU_POISON=1)       → $OUT/tests-poison.log
#   repeat  the Gpu tests on CUDA three more times, for failures that come and go                → $OUT/tests-repeat-N.log
#   golden  the golden llm, vision, resampler and audio cases on the GPU backend                → $OUT/golden.log
#   full    the whole GPU bench (kernels, decode, prefill, vision, audio)                         → $OUT/full.log
#   sanitize  the decode/prefill model tests under compute-sanitizer (initcheck: device memory read before anything
#           wrote it, on the hardware; then racecheck on shared memory) → $OUT/sanitize-*.log (skipped without it)
#   beside  each older GpuBench in the payload (BESIDE= in gpu-payload.sh), kernels only (--quick --skip-e2e)
#           → $OUT/beside-COMMIT.log, to compare with full.log's kernel lines from the same machine
# Exit codes per step in $OUT/rc.txt; nvidia-smi's view of the device in $OUT/smi.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
payload=gpurun/payload.tar.xz
if [[ $# -gt 0 && -f "$1" ]]; then payload="$1"; shift; fi
: "${OUT:?gpu-run: OUT must name the folder for the logs}"
mkdir -p /tmp/p && tar -xJf "$payload" -C /tmp/p || { echo "gpu-run: cannot unpack $payload" >&2; exit 1; }
export DOTNET_ROOT=/tmp/p DOTNET_CLI_TELEMETRY_OPTOUT=1
bench="/tmp/p/dotnet /tmp/p/bench/MiniCPM.GpuBench.dll"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv > "$OUT/smi.txt" 2>&1
for step in "$@"; do
  case $step in
    tests)
      # Sequential collections: one test run with two CUDA contexts at work at once hung (second GPU session).
      MINICPM_GPU_TEST_DEVICE=cuda timeout 120 /tmp/p/dotnet /tmp/p/tests/MiniCPM.Gpu.Tests.dll -noColor -parallel none \
        -longRunning 8 > "$OUT/tests.log" 2>&1
      echo "tests rc=$?" >> "$OUT/rc.txt" ;;
    poison)
      MINICPM_GPU_POISON=1 MINICPM_GPU_TEST_DEVICE=cuda timeout 120 /tmp/p/dotnet /tmp/p/tests/MiniCPM.Gpu.Tests.dll -noColor \
        -parallel none -longRunning 8 > "$OUT/tests-poison.log" 2>&1
      echo "poison rc=$?" >> "$OUT/rc.txt" ;;
    repeat)
      for n in 1 2 3; do
        MINICPM_GPU_TEST_DEVICE=cuda timeout 120 /tmp/p/dotnet /tmp/p/tests/MiniCPM.Gpu.Tests.dll -noColor -parallel none \
          -longRunning 8 > "$OUT/tests-repeat-$n.log" 2>&1
        echo "repeat $n rc=$?" >> "$OUT/rc.txt"
      done ;;
    sanitize)
      if [[ -x /tmp/p/compute-sanitizer/compute-sanitizer ]]; then
        # The model classes that prefill and decode (the intermittent failure's), and the tensor-core matmul (its
        # shared tiles and register prefetch, first run on hardware), not the whole suite: a sanitizer slows every
        # launch by 10-100x.
        classes=(-class MiniCPM.Gpu.Tests.Models.QuantizedDecodeOnGpuTests -class MiniCPM.Gpu.Tests.Models.CudaGraphDecodeTests
          -class MiniCPM.Gpu.Tests.Kernels.TensorCoreMatMulKernelTests)
        for tool in initcheck racecheck; do
          MINICPM_GPU_TEST_DEVICE=cuda timeout 150 /tmp/p/compute-sanitizer/compute-sanitizer --tool "$tool" \
            --target-processes all --print-limit 50 /tmp/p/dotnet /tmp/p/tests/MiniCPM.Gpu.Tests.dll -noColor \
            -parallel none "${classes[@]}" > "$OUT/sanitize-$tool.log" 2>&1
          echo "sanitize $tool rc=$?" >> "$OUT/rc.txt"
        done
      else
        echo "sanitize skipped: no compute-sanitizer in the payload" >> "$OUT/rc.txt"
      fi ;;
    golden)
      timeout 150 $bench --device cuda --golden tests/golden/llm --golden tests/golden/vision --golden tests/golden/resampler --golden tests/golden/audio --vision-only --tiny-vision > "$OUT/golden.log" 2>&1
      echo "golden rc=$?" >> "$OUT/rc.txt" ;;
    full)
      timeout 300 $bench --device cuda > "$OUT/full.log" 2>&1
      echo "full rc=$?" >> "$OUT/rc.txt" ;;
    beside)
      for dir in /tmp/p/bench-*/; do
        [[ -d "$dir" ]] || continue
        name="$(basename "$dir")"
        timeout 150 /tmp/p/dotnet "$dir/MiniCPM.GpuBench.dll" --device cuda --quick --skip-e2e > "$OUT/beside-${name#bench-}.log" 2>&1
        echo "beside ${name#bench-} rc=$?" >> "$OUT/rc.txt"
      done ;;
    *) echo "gpu-run: unknown step '$step' (tests | poison | repeat | sanitize | golden | full | beside)" >> "$OUT/rc.txt" ;;
  esac
done
cat "$OUT/rc.txt"
