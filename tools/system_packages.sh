#!/bin/sh
# The Debian packages the tests need, as "command:package" pairs: bubblewrap (autograding runs
# student code in its sandbox), chromium (the browser tests) and postgresql (the scale-out test's
# gradebook server; Debian keeps initdb in /usr/lib/postgresql/<version>/bin, off PATH). Missing
# ones are installed when we are root with apt-get; otherwise we stop at once with the command.
# Usage: tools/system_packages.sh [--check]   (--check: never install, only report)
set -eu
NEEDED="bwrap:bubblewrap chromium:chromium initdb:postgresql"

missing=""
PGLIB="${SYSTEM_PACKAGES_PGLIB:-/usr/lib/postgresql}"  # another folder only for tests/test_setup.py
have() {
    command -v "$1" >/dev/null 2>&1 && return 0
    for p in "$PGLIB"/*/bin/"$1"; do [ -x "$p" ] && return 0; done
    return 1
}
for pair in $NEEDED; do
    have "${pair%%:*}" || missing="$missing ${pair#*:}"
done
[ -z "$missing" ] && exit 0

cmd="apt-get update && apt-get install -y --no-install-recommends$missing"
if [ "${1:-}" != "--check" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing system packages the tests need:$missing"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
    exit 0
fi
echo "Missing system packages:$missing (bubblewrap: the grading sandbox; chromium: browser tests; postgresql: the scale-out test)." >&2
if [ "$(id -u)" = 0 ]; then
    echo "Install them with:  $cmd" >&2
else
    echo "Install them with:  sudo sh -c '$cmd'" >&2
fi
exit 1
