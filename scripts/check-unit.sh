#!/usr/bin/env bash
# Checks the packaged systemd files without systemd running (PID 1 may be anything):
#   1. systemd-analyze verify --man=no on packaging/ctdeid.service and ctdeid-receive.service (any warning fails)
#   2. systemd-analyze security --offline=true: overall exposure <= 1.5 (ctdeid.service, no network)
#      and <= 2.0 (ctdeid-receive.service, the DICOM endpoint); only the receiver may use IP

#   3. as root: systemd-sysusers + systemd-tmpfiles --create of packaging/{sysusers,tmpfiles}.d
#      into a scratch root, then the owner and mode of every tree are checked.
# Usage: scripts/check-unit.sh [BINARY]
#   BINARY replaces /usr/bin/ctdeid in ExecStart (verify needs an existing executable). Without it,
#   /usr/bin/ctdeid is used when installed, else .build/debug/ctdeid.
# Needs: the systemd package (systemd-analyze, systemd-sysusers, systemd-tmpfiles; Debian 12: systemd 252).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
sysusers_src=$repo/packaging/sysusers.d/ctdeid.conf
tmpfiles_src=$repo/packaging/tmpfiles.d/ctdeid.conf
installed=/usr/bin/ctdeid

die() { echo "check-unit: FAIL: $*" >&2; exit 1; }
for tool in systemd-analyze systemd-sysusers systemd-tmpfiles; do
  command -v "$tool" >/dev/null || die "$tool not found (apt-get install systemd)"
done
for f in "$repo/packaging/ctdeid.service" "$repo/packaging/ctdeid-receive.service" "$sysusers_src" "$tmpfiles_src"; do [[ -f $f ]] || die "missing $f"; done

if [[ $# -ge 1 ]]; then
  binary=$1
elif [[ -x $installed ]]; then
  binary=$installed
else
  binary=$repo/.build/debug/ctdeid
fi
[[ -x $binary && -f $binary ]] || die "no executable at $binary (build it first: swift build, or pass the path of a built ctdeid)"
binary=$(realpath "$binary")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Steps 1 and 2 for one unit. The unit name comes from the file name: keep the packaged names.
check_unit() {
  local unit_src=$1 max=$2 name status line level
  name=$(basename "$unit_src")
  local unit=$tmp/$name
  grep -q '^ExecStart=/usr/bin/ctdeid ' "$unit_src" || die "ExecStart=/usr/bin/ctdeid ... not found in $unit_src"
  sed "s#^ExecStart=/usr/bin/ctdeid #ExecStart=$binary #" "$unit_src" >"$unit"
  echo "check-unit: $unit_src with ExecStart=$binary"

  # 1. verify. Warnings (unknown keys, bad values) go to stderr with exit status 0: stderr must be empty.
  status=0
  systemd-analyze verify --man=no "$unit" >"$tmp/verify.out" 2>"$tmp/verify.err" || status=$?
  cat "$tmp/verify.out"
  if [[ $status -ne 0 || -s $tmp/verify.err ]]; then
    sed 's/^/  /' "$tmp/verify.err" >&2
    die "systemd-analyze verify: exit status $status, $(wc -l <"$tmp/verify.err") line(s) on stderr (above)"
  fi
  echo "check-unit: systemd-analyze verify: OK"

  # 2. security. --threshold works on 10x the displayed level; we also compare the printed value.
  status=0
  systemd-analyze security --offline=true --no-pager "$unit" >"$tmp/security.out" 2>"$tmp/security.err" || status=$?
  if [[ -s $tmp/security.err ]]; then
    sed 's/^/  /' "$tmp/security.err" >&2
    die "systemd-analyze security: messages on stderr (above)"
  fi
  line=$(grep -m1 "Overall exposure level for $name" "$tmp/security.out" || true)
  if [[ -z $line ]]; then
    cat "$tmp/security.out" >&2
    die "systemd-analyze security (exit status $status) printed no overall exposure level"
  fi
  grep '✗' "$tmp/security.out" | sed 's/  */ /g; s/^/  not covered: /' || true
  echo "check-unit: $line"
  level=$(sed -E 's/.*: ([0-9]+(\.[0-9]+)?) .*/\1/' <<<"$line")
  [[ $level =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "cannot read the exposure level from: $line"
  if awk -v l="$level" -v m="$max" 'BEGIN { exit !(l > m) }'; then
    die "overall exposure $level is above $max"
  fi
  echo "check-unit: exposure $level <= $max: OK"
}

check_unit "$repo/packaging/ctdeid.service" 1.5
check_unit "$repo/packaging/ctdeid-receive.service" 2.0
grep -q '^PrivateNetwork=yes' "$repo/packaging/ctdeid.service" || die "ctdeid.service must keep PrivateNetwork=yes"
grep -q '^PrivateNetwork' "$repo/packaging/ctdeid-receive.service" && die "ctdeid-receive.service needs the network"

# 3. sysusers.d and tmpfiles.d, applied to a scratch root (chown needs root).
if [[ $(id -u) -ne 0 ]]; then
  echo "check-unit: not root: skipping the sysusers.d/tmpfiles.d check"
  exit 0
fi
root=$tmp/root
mkdir -p "$root/etc"
status=0
systemd-sysusers --root="$root" "$sysusers_src" >"$tmp/sysusers.out" 2>&1 || status=$?
# systemd-sysusers reports what it creates on stderr: only lines of that kind are expected.
if [[ $status -ne 0 ]] || grep -vE '^Creating (user|group) ' "$tmp/sysusers.out" | grep -q .; then
  sed 's/^/  /' "$tmp/sysusers.out" >&2
  die "systemd-sysusers $sysusers_src: exit status $status"
fi
uid=$(awk -F: '$1 == "ctdeid" { print $3 }' "$root/etc/passwd")
gid=$(awk -F: '$1 == "ctdeid" { print $3 }' "$root/etc/group")
shell=$(awk -F: '$1 == "ctdeid" { print $7 }' "$root/etc/passwd")
home=$(awk -F: '$1 == "ctdeid" { print $6 }' "$root/etc/passwd")
[[ -n $uid && -n $gid ]] || die "sysusers.d did not create the user and group ctdeid"
[[ $uid -lt 1000 ]] || die "ctdeid is not a system user (uid $uid)"
[[ $home == /var/lib/ctdeid && $shell == /usr/sbin/nologin ]] || die "ctdeid: home $home, shell $shell"
echo "check-unit: sysusers.d: user ctdeid ($uid), group ctdeid ($gid), home $home, shell $shell: OK"

status=0
systemd-tmpfiles --create --root="$root" "$tmpfiles_src" >"$tmp/tmpfiles.out" 2>&1 || status=$?
# ACL entries name the group, which systemd-tmpfiles resolves on this host, not in the scratch
# root: when this host has no group ctdeid, those lines are reported and skipped. Anything else fails.
if getent group ctdeid >/dev/null; then
  unexpected=$(cat "$tmp/tmpfiles.out")
else
  unexpected=$(grep -vE '^Failed to parse ACL "default:group:ctdeid:[rwx-]{3}": Invalid argument\. Ignoring$' "$tmp/tmpfiles.out" || true)
fi
if [[ $status -ne 0 || -n $unexpected ]]; then
  sed 's/^/  /' "$tmp/tmpfiles.out" >&2
  die "systemd-tmpfiles --create $tmpfiles_src: exit status $status"
fi
bad=0
while read -r path mode; do
  got=$(stat -c '%a %u %g' "$root$path" 2>/dev/null || echo missing)
  if [[ $got != "$mode $uid $gid" ]]; then
    echo "  $path: expected mode $mode owner $uid:$gid, got $got" >&2
    bad=1
  fi
done <<'EOF'
/var/lib/ctdeid 750
/var/lib/ctdeid/inbox 2770
/var/lib/ctdeid/outbox 2750
/var/lib/ctdeid/work 750
/var/lib/ctdeid/quarantine 750
/var/lib/ctdeid/done 750
/var/lib/ctdeid/mappings 2770
/var/lib/ctdeid/qa 2750
/var/lib/ctdeid/receive 750
EOF
[[ $bad -eq 0 ]] || die "tmpfiles.d: wrong trees (above)"
echo "check-unit: tmpfiles.d: 9 trees with the expected modes, owner ctdeid:ctdeid: OK"
echo "check-unit: all checks passed"
