#!/usr/bin/env bash
# Fails when a sanitizer wrote a report (log_path=DIR/report makes one file per process that
# found something), printing them: reports of a ctdeid started by a test would go unnoticed otherwise.
# Usage: scripts/sanitizers/reports.sh DIR
set -euo pipefail
dir=$1
reports=$(find "$dir" -type f -name 'report*' | sort)
if [ -n "$reports" ]; then
    for report in $reports; do echo "== $report"; cat "$report"; done
    echo "sanitizer: $(echo "$reports" | wc -l) process(es) reported, see $dir" >&2
    exit 1
fi
echo "sanitizer: no reports"
