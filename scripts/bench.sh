#!/usr/bin/env bash
# Times `ctdeid run` against `cp -r` of the same synthetic corpus, alternating, median of REPS.
# Usage: scripts/bench.sh BIN   (env: PATIENTS=3 SLICES=200 SIZE=512 REPS=3)
set -euo pipefail
bin=$(realpath "$1")
patients=${PATIENTS:-3}; slices=${SLICES:-200}; size=${SIZE:-512}; reps=${REPS:-3}
dir=var/bench
rm -rf "$dir"; mkdir -p "$dir"
"$bin" sample --output "$dir/inbox" --mapping "$dir/mapping.csv" --patients "$patients" --slices "$slices" --size "$size" >/dev/null
files=$(find "$dir/inbox" -type f | wc -l)
mb=$(du -sm "$dir/inbox" | cut -f1)
cat "$dir"/inbox/*/*/*/* >/dev/null  # warm the page cache for both contenders

now() { date +%s.%N; }
calc() { awk "BEGIN { print $1 }"; }
declare -a cp_times run_times
for ((i = 0; i < reps; i++)); do
  rm -rf "$dir/cp" "$dir/out" "$dir/db"
  t0=$(now); cp -r "$dir/inbox" "$dir/cp"; sync -f "$dir/cp"; t1=$(now)
  cp_times+=("$(calc "$t1 - $t0")")
  t0=$(now); "$bin" run --input "$dir/inbox" --output "$dir/out" --mapping "$dir/mapping.csv" --database "$dir/db/ctdeid.sqlite" --quiet >/dev/null; t1=$(now)
  run_times+=("$(calc "$t1 - $t0")")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
cp_t=$(median "${cp_times[@]}"); run_t=$(median "${run_times[@]}")
printf '\ncorpus: %d patients x %d slices of %dx%d = %d files, %d MB (median of %d, alternating)\n' "$patients" "$slices" "$size" "$size" "$files" "$mb" "$reps"
printf '%-28s %10s %10s %10s %12s\n' tool seconds files/s MB/s "x cp time"
for row in "cp -r:$cp_t" "ctdeid run (metadata):$run_t"; do
  name=${row%%:*}; t=${row##*:}
  printf '%-28s %10.2f %10.0f %10.0f %12.2f\n' "$name" "$t" "$(calc "$files / $t")" "$(calc "$mb / $t")" "$(calc "$t / $cp_t")"
done
