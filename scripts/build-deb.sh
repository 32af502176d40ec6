#!/usr/bin/env bash
# Builds var/ctdeid_<version>_amd64.deb: a release binary with the Swift runtime linked statically
# (installs on Debian 12 without Swift), the systemd unit, sysusers.d, tmpfiles.d, the packaged
# config (a conffile) and the docs. Then checks it (dpkg-deb --info/--contents, lintian if present).
#
# Usage: scripts/build-deb.sh [--install-test]
#   --install-test  (root) also dpkg -i the package, check the user, group, trees, modes and ACLs
#                   its postinst made, then dpkg -r and dpkg -P it (the data and the user stay, by
#                   design). The service is never started. Refused when ctdeid is installed.
# Env: VERSION (default: from git describe, else 0.1.0), MAINTAINER, SWIFT (default swift).
# Needs: Swift 6 on PATH (or /opt/swift/usr/bin), the build deps of `make deps`, dpkg-dev
# (dpkg-shlibdeps; without it Depends comes from dpkg -S), systemd (for scripts/check-unit.sh).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
install_test=0
for arg in "$@"; do
  case $arg in
    --install-test) install_test=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "build-deb: unknown argument $arg" >&2; exit 2 ;;
  esac
done
die() { echo "build-deb: FAIL: $*" >&2; exit 1; }
say() { echo "build-deb: $*"; }

[[ -d /opt/swift/usr/bin ]] && PATH=/opt/swift/usr/bin:$PATH
SWIFT=${SWIFT:-swift}
command -v "$SWIFT" >/dev/null || die "swift not found on PATH"
command -v dpkg-deb >/dev/null || die "dpkg-deb not found"
arch=$(dpkg --print-architecture)
[[ $arch == amd64 ]] || die "this script packages for amd64; this machine is $arch"

# --- version: tag v1.2.3 -> 1.2.3; v1.2.3-4-gabc1234 -> 1.2.3+4.gabc1234; no tag -> 0.1.0+gabc1234;
# uncommitted changes add .dirty (+dirty after a bare tag). `git describe --tags --always` underneath.
if [[ -z ${VERSION:-} ]]; then
  VERSION=0.1.0
  if describe=$(git describe --tags --always --dirty 2>/dev/null); then
    dirty=
    [[ $describe == *-dirty ]] && { dirty=.dirty; describe=${describe%-dirty}; }
    if ! git describe --tags --abbrev=0 >/dev/null 2>&1; then
      VERSION=0.1.0+g$describe$dirty                      # no tag: describe is a bare hash
    elif [[ $describe =~ ^v?([0-9][0-9A-Za-z.+~]*)-([0-9]+)-(g[0-9a-f]+)$ ]]; then
      VERSION=${BASH_REMATCH[1]}+${BASH_REMATCH[2]}.${BASH_REMATCH[3]}$dirty
    elif [[ $describe =~ ^v?([0-9][0-9A-Za-z.+~]*)$ ]]; then
      VERSION=${BASH_REMATCH[1]}${dirty:++dirty}
    else
      echo "build-deb: tag $describe is not a version: using 0.1.0" >&2
    fi
  fi
fi
[[ $VERSION =~ ^[0-9][A-Za-z0-9.+~]*$ ]] || die "not a Debian version without revision: $VERSION"
MAINTAINER=${MAINTAINER:-ctdeid maintainers <ctdeid-maintainers@invalid>}
say "version $VERSION"

# --- build: the Swift runtime and Foundation linked into the binary
scratch=.build-deb
"$SWIFT" build -c release --static-swift-stdlib --scratch-path "$scratch" --product ctdeid
bin=$("$SWIFT" build -c release --static-swift-stdlib --scratch-path "$scratch" --show-bin-path)/ctdeid
[[ -x $bin ]] || die "no binary at $bin"
ldd "$bin" >"$scratch/ldd.txt" || die "ldd $bin failed"
if grep -E 'not found|libswift|libFoundation|lib_Foundation|libdispatch|libBlocksRuntime' "$scratch/ldd.txt"; then
  die "the binary still needs the shared libraries above (Swift runtime not linked statically, or missing)"
fi
say "ldd: no Swift runtime library needed; shared libraries:"
sed 's/^/  /' "$scratch/ldd.txt"

# --- the unit, sysusers.d, tmpfiles.d
bash scripts/check-unit.sh "$bin"

# --- stage
pkg=ctdeid_${VERSION}_$arch
stage=var/deb/$pkg
rm -rf "$stage"
mkdir -p "$stage/DEBIAN"
install -D -m 0755 "$bin" "$stage/usr/bin/ctdeid"
# As dh_strip does for executables; the binary still runs (checked below).
strip --remove-section=.comment --remove-section=.note "$stage/usr/bin/ctdeid"
"$stage/usr/bin/ctdeid" --help >/dev/null || die "the stripped binary does not run"
install -D -m 0644 packaging/ctdeid.service "$stage/lib/systemd/system/ctdeid.service"
install -D -m 0644 packaging/ctdeid-receive.service "$stage/lib/systemd/system/ctdeid-receive.service"
install -D -m 0644 packaging/sysusers.d/ctdeid.conf "$stage/usr/lib/sysusers.d/ctdeid.conf"
install -D -m 0644 packaging/tmpfiles.d/ctdeid.conf "$stage/usr/lib/tmpfiles.d/ctdeid.conf"
install -D -m 0644 packaging/ctdeid.toml "$stage/etc/ctdeid/ctdeid.toml"
install -D -m 0644 README.md "$stage/usr/share/doc/ctdeid/README.md"
install -D -m 0644 packaging/deb/copyright "$stage/usr/share/doc/ctdeid/copyright"
{
  printf 'ctdeid (%s) unstable; urgency=medium\n\n' "$VERSION"
  printf '  * Built from %s.\n\n' "$(git rev-parse --short HEAD 2>/dev/null || echo 'a source tree')"
  printf ' -- %s  %s\n' "$MAINTAINER" "$(date -R)"
} | gzip -9n >"$stage/usr/share/doc/ctdeid/changelog.gz"
chmod 0644 "$stage/usr/share/doc/ctdeid/changelog.gz"
for script in postinst prerm postrm; do
  install -m 0755 "packaging/deb/$script" "$stage/DEBIAN/$script"
done
echo /etc/ctdeid/ctdeid.toml >"$stage/DEBIAN/conffiles"

# --- Depends: what the binary links, by Debian package, with minimum versions
shlibs=
if command -v dpkg-shlibdeps >/dev/null; then
  work=$(mktemp -d)
  mkdir "$work/debian"
  printf 'Source: ctdeid\n\nPackage: ctdeid\nArchitecture: any\n' >"$work/debian/control"
  shlibs=$(cd "$work" && dpkg-shlibdeps -O -e "$repo/$stage/usr/bin/ctdeid" 2>"$work/err" | sed -n 's/^shlibs:Depends=//p') \
    || { cat "$work/err" >&2; rm -rf "$work"; die "dpkg-shlibdeps failed"; }
  rm -rf "$work"
fi
if [[ -z $shlibs ]]; then
  say "dpkg-shlibdeps unavailable: Depends from dpkg -S of the libraries ldd shows"
  shlibs=$(awk '$2 == "=>" && $3 ~ /^\// { print $3 }' "$scratch/ldd.txt" | while read -r lib; do
      dpkg -S "$(realpath "$lib")" 2>/dev/null || dpkg -S "$lib" 2>/dev/null || true
    done | cut -d: -f1 | sort -u | paste -sd, | sed 's/,/, /g')
fi
for required in libdcmtk17 libsystemd0 libsqlite3-0; do
  [[ ", $shlibs," == *", $required"[\ ,]* ]] || shlibs="$shlibs, $required"
done
shlibs=${shlibs#, }
# Tesseract's language data is read at run time (burned-in text), not linked: dpkg-shlibdeps cannot see it.
depends="$shlibs, tesseract-ocr-eng, systemd | systemd-sysusers, systemd | systemd-tmpfiles"

installed_size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<EOF
Package: ctdeid
Version: $VERSION
Architecture: $arch
Maintainer: $MAINTAINER
Installed-Size: $installed_size
Depends: $depends
Recommends: sqlite3
Section: science
Priority: optional
Description: de-identification service for DICOM head CT studies
 ctdeid watches an inbox folder for head CT studies (one folder per study, named by
 accession number), removes personal information from the DICOM metadata with the Basic
 Application Level Confidentiality Profile of DICOM PS3.15 Annex E and the options chosen,
 writes the result to an outbox and records every job, file and mapping in an SQLite
 audit database. Files it cannot make safe are quarantined, never delivered.
 .
 The package installs the systemd services ctdeid.service and ctdeid-receive.service (a
 DICOM C-STORE endpoint feeding the inbox; neither started), the user and group ctdeid and
 the trees under /var/lib/ctdeid.
EOF
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/conffiles" "$stage/DEBIAN/md5sums"

# --- build and inspect
mkdir -p var
deb=var/$pkg.deb
dpkg-deb --build --root-owner-group "$stage" "$deb" >/dev/null
say "built $deb ($(du -h "$deb" | cut -f1))"
dpkg-deb --info "$deb"
dpkg-deb --contents "$deb"
if command -v lintian >/dev/null; then
  lintian --info "$deb" || say "lintian reported problems (above)"
else
  say "lintian not installed: skipped"
fi

# --- optional: install, check what postinst did, remove
if [[ $install_test -eq 1 ]]; then
  [[ $(id -u) -eq 0 ]] || die "--install-test needs root"
  if dpkg -s ctdeid >/dev/null 2>&1; then die "--install-test: ctdeid is already installed here"; fi
  had_data=0; [[ -e /var/lib/ctdeid ]] && had_data=1
  say "install test: dpkg -i $deb"
  dpkg -i "$deb"
  fail=0
  check() { if ! eval "$2"; then echo "  FAIL: $1" >&2; fail=1; else echo "  ok: $1"; fi; }
  check "user ctdeid: system, home /var/lib/ctdeid, no login shell" \
    '[[ $(getent passwd ctdeid | cut -d: -f3) -lt 1000 && $(getent passwd ctdeid | cut -d: -f6,7) == /var/lib/ctdeid:/usr/sbin/nologin ]]'
  check "group ctdeid" 'getent group ctdeid >/dev/null'
  while read -r path mode; do
    check "$path $mode ctdeid:ctdeid" "[[ \$(stat -c '%a %U:%G' $path) == '$mode ctdeid:ctdeid' ]]"
  done <<'EOF'
/var/lib/ctdeid 750
/var/lib/ctdeid/inbox 2770
/var/lib/ctdeid/outbox 2750
/var/lib/ctdeid/work 750
/var/lib/ctdeid/quarantine 750
/var/lib/ctdeid/done 750
/var/lib/ctdeid/mappings 2770
EOF
  for tree in inbox mappings work outbox; do
    check "default ACL on $tree" "python3 -c 'import os,sys; os.getxattr(sys.argv[1], \"system.posix_acl_default\")' /var/lib/ctdeid/$tree"
  done
  check "conffile /etc/ctdeid/ctdeid.toml" '[[ -f /etc/ctdeid/ctdeid.toml ]] && dpkg-query -W -f="\${Conffiles}" ctdeid | grep -q /etc/ctdeid/ctdeid.toml'
  check "service not started" '! pgrep -u ctdeid -x ctdeid >/dev/null'
  say "install test: dpkg -r ctdeid"
  dpkg -r ctdeid
  check "data kept after dpkg -r" '[[ -d /var/lib/ctdeid/inbox ]]'
  check "binary and units removed" '[[ ! -e /usr/bin/ctdeid && ! -e /lib/systemd/system/ctdeid.service && ! -e /lib/systemd/system/ctdeid-receive.service ]]'
  check "conffile kept after dpkg -r" '[[ -f /etc/ctdeid/ctdeid.toml ]]'
  # Purge too: a leftover /etc/ctdeid/ctdeid.toml is read by any `ctdeid serve` run without --config.
  say "install test: dpkg -P ctdeid"
  dpkg -P ctdeid
  check "conffile gone after dpkg -P" '[[ ! -e /etc/ctdeid/ctdeid.toml ]]'
  check "data kept after dpkg -P" '[[ -d /var/lib/ctdeid/inbox ]]'
  if [[ $had_data -eq 0 ]]; then
    say "install test: /var/lib/ctdeid and the user ctdeid did not exist before and were kept, as a purge does:"
    say "  to clean up: rm -rf /var/lib/ctdeid && userdel ctdeid"
  fi
  [[ $fail -eq 0 ]] || die "install test failed (above)"
  say "install test: OK"
fi
say "OK: $deb"
