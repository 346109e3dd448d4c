#!/usr/bin/env bash
# Builds the payload for a GPU machine that has no .NET SDK: GpuBench and the Gpu test program (xunit v3, runs its own
# tests), both published framework-dependent, plus the local .NET runtime they run on, in one tar.xz.
#
#   bench/gpu-payload.sh [OUTPUT]        (default gpurun/payload.tar.xz, relative to the repository root)
#   BESIDE="COMMIT..." bench/gpu-payload.sh   also GpuBench as built at each COMMIT, in bench-COMMIT/, to time old and
#                                             new kernels on the same machine in the same call (gpu-run.sh beside)
#
# Layout inside the archive (unpack with `mkdir -p /tmp/p && tar -xJf payload.tar.xz -C /tmp/p`):
#   dotnet, host/fxr/<v>/, shared/Microsoft.NETCore.App/<v>/   the runtime (DOTNET_ROOT=/tmp/p)
#   bench/MiniCPM.GpuBench.dll                                  /tmp/p/dotnet /tmp/p/bench/MiniCPM.GpuBench.dll ...
#   tests/MiniCPM.Gpu.Tests.dll                                 /tmp/p/dotnet /tmp/p/tests/MiniCPM.Gpu.Tests.dll [-class X]
#   compute-sanitizer/                                          NVIDIA's, when tools/get-ptxas.sh unpacked it
# Run the tests from the repository root (they find tests/golden above the current directory, or MINICPM_REPO_ROOT);
# MINICPM_GPU_TEST_DEVICE=cuda runs the kernel tests on the GPU instead of ILGPU's CPU simulator.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
out="${1:-gpurun/payload.tar.xz}"
case "$out" in /*) ;; *) out="$root/$out" ;; esac

command -v dotnet >/dev/null || { echo "gpu-payload: no dotnet SDK on PATH" >&2; exit 1; }
command -v xz >/dev/null || { echo "gpu-payload: xz not found" >&2; exit 1; }
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

stage="$(mktemp -d)"
trap 'rm -rf "$stage"; git worktree prune' EXIT

publish() { # project, folder in the payload
  dotnet publish "$1" -c Release --self-contained false -p:PublishSingleFile=false \
    -o "$stage/$2" --nologo -v quiet
}
publish bench/MiniCPM.GpuBench bench
publish tests/MiniCPM.Gpu.Tests tests
apps=(bench tests)
for commit in ${BESIDE:-}; do
  name="bench-$(git rev-parse --short "$commit")"
  git worktree add -q --detach "$stage/src" "$commit"
  publish "$stage/src/bench/MiniCPM.GpuBench" "$name"
  git worktree remove --force "$stage/src"
  apps+=("$name")
done

# Only the flat folder of each program is needed. Every subfolder goes: runtimes/ (no native library is loaded from
# there: SkiaSharp's is for images, which neither program decodes, and ILGPU binds the machine's CUDA driver), and the
# test SDK's content that VSTest alone uses (CodeCoverage/, x64/, ubuntu/, ..., translated messages: ~25 MB). pdbs
# only add line numbers.
for app in "${apps[@]}"; do
  find "$stage/$app" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
  find "$stage/$app" -name '*.pdb' -delete
done

# The runtime the apps were built against: its major.minor from the runtimeconfig, the newest installed patch of it.
dotnet_home="$(dirname "$(readlink -f "$(command -v dotnet)")")"
want="$(sed -n 's/.*"version": *"\([0-9]*\.[0-9]*\)\..*/\1/p' "$stage/tests/MiniCPM.Gpu.Tests.runtimeconfig.json" | head -n 1)"
version="$(ls "$dotnet_home/shared/Microsoft.NETCore.App" | grep -E "^${want//./\\.}\.[0-9]+$" | sort -V | tail -n 1)"
fxr="$(ls "$dotnet_home/host/fxr" | sort -V | tail -n 1)"
[[ -n "$version" && -n "$fxr" ]] || { echo "gpu-payload: no Microsoft.NETCore.App $want.x under $dotnet_home" >&2; exit 1; }
mkdir -p "$stage/shared/Microsoft.NETCore.App" "$stage/host/fxr"
cp "$dotnet_home/dotnet" "$stage/dotnet"
cp -r "$dotnet_home/host/fxr/$fxr" "$stage/host/fxr/"
cp -r "$dotnet_home/shared/Microsoft.NETCore.App/$version" "$stage/shared/Microsoft.NETCore.App/"

# NVIDIA's compute-sanitizer when tools/get-ptxas.sh has unpacked it (gpu-run.sh sanitize), ~4 MB compressed.
extra=()
sanitizer="${MINICPM_CUDA_TOOLS:-$HOME/.cache/minicpm/cuda}/compute-sanitizer"
if [[ -x "$sanitizer/compute-sanitizer" ]]; then
  cp -r "$sanitizer" "$stage/compute-sanitizer"
  extra+=(compute-sanitizer)
else
  echo "gpu-payload: no compute-sanitizer under $sanitizer (tools/get-ptxas.sh fetches it); gpu-run.sh sanitize will skip" >&2
fi

mkdir -p "$(dirname "$out")"
tar -C "$stage" -cf - dotnet host shared "${apps[@]}" "${extra[@]}" | xz -T0 -9 > "$out.tmp"
mv "$out.tmp" "$out"
echo "gpu-payload: $out: $(du -h "$out" | cut -f1) ($(stat -c %s "$out") bytes; runtime $version, hostfxr $fxr)"
