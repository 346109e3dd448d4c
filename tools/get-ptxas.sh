#!/usr/bin/env bash
# Fetches NVIDIA's ptxas, cuobjdump and the nvdisasm it calls (no GPU or driver needed) for tools/MiniCPM.KernelSass, and
# compute-sanitizer for GPU sessions (bench/gpu-payload.sh), from Debian's
# nvidia-cuda-toolkit package (non-free; a CUDA 12 build, which reads the PTX ISA 8.0 that ILGPU writes), into
# ${1:-~/.cache/minicpm/cuda}/bin. Only the package file is unpacked: nothing is installed.
set -euo pipefail
dest="${1:-$HOME/.cache/minicpm/cuda}"
mirror=http://deb.debian.org/debian
suite=${DEBIAN_SUITE:-sid}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
curl -fsS -o "$work/Packages.xz" "$mirror/dists/$suite/non-free/binary-amd64/Packages.xz"
file=$(xz -dc "$work/Packages.xz" | awk '/^Package: nvidia-cuda-toolkit$/ {p=1} p && /^Filename:/ && !done {print $2; done=1}')
[[ -n "$file" ]] || { echo "get-ptxas: no nvidia-cuda-toolkit in Debian $suite non-free" >&2; exit 1; }
echo "get-ptxas: $mirror/$file" >&2
curl -fsS -o "$work/toolkit.deb" "$mirror/$file"
(cd "$work" && ar x toolkit.deb && tar -xf data.tar.* ./usr/bin/ptxas ./usr/bin/cuobjdump ./usr/bin/nvdisasm \
  ./usr/lib/nvidia-cuda-toolkit/compute-sanitizer/)
mkdir -p "$dest/bin"
cp "$work/usr/bin/ptxas" "$work/usr/bin/cuobjdump" "$work/usr/bin/nvdisasm" "$dest/bin/"
# compute-sanitizer (initcheck: reads of device memory nothing wrote; memcheck; racecheck) for bench/gpu-payload.sh to
# carry to a GPU machine: it needs the GPU's driver, not the toolkit. Headers and docs are left out (~16 MB binaries).
rm -rf "$dest/compute-sanitizer"
cp -r "$work/usr/lib/nvidia-cuda-toolkit/compute-sanitizer" "$dest/"
rm -rf "$dest/compute-sanitizer/include" "$dest/compute-sanitizer/docs"
"$dest/bin/ptxas" --version | tail -1
