#!/usr/bin/env bash
# Writes the fuzz seed corpus (`make fuzz` calls it; nothing here is committed):
#   - small synthetic CT slices with planted PHI, from the fuzz binary's own --seeds mode;
#   - one of them re-encoded by DCMTK's tools in the other transfer syntaxes the service meets
#     (implicit VR, big endian, deflate, RLE, JPEG lossless, JPEG-LS lossless),
#     and as a localizer, so the decoders and the blanking path get seeds of their own;
#   - the small files of ../shared/testdata/malformed when this machine has them (MIT, pydicom).
# Usage: scripts/fuzz-seeds.sh FUZZ_BINARY SEED_DIR
set -euo pipefail
binary=$1 seeds=$2
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rm -rf "$seeds" && mkdir -p "$seeds"
"$binary" --seeds "$seeds"
base=$seeds/synthetic-0.dcm
[ -f "$base" ] || { echo "fuzz-seeds: the binary wrote no synthetic seed" >&2; exit 1; }

# Each conversion is optional: an old DCMTK without one of the tools still gives a corpus.
convert() { local name=$1; shift; "$@" "$base" "$seeds/$name.dcm" >/dev/null 2>&1 || echo "fuzz-seeds: skipped $name ($1)"; }
convert implicit dcmconv +ti
convert big-endian dcmconv +tb
convert deflate dcmconv +td
convert rle dcmcrle
convert jpeg-lossless dcmcjpeg +e1
convert jpegls-lossless dcmcjpls +el
cp "$base" "$seeds/localizer.dcm"
dcmodify -nb -m "(0008,0008)=ORIGINAL\\PRIMARY\\LOCALIZER" "$seeds/localizer.dcm" >/dev/null 2>&1 || rm -f "$seeds/localizer.dcm"

malformed=$repo/../shared/testdata/malformed
if [ -d "$malformed" ]; then
    find "$malformed" -name '*.dcm' -size -16k -exec cp {} "$seeds/" \;
fi
chmod u+w "$seeds"/*
echo "fuzz-seeds: $(ls "$seeds" | wc -l) seeds in $seeds"
