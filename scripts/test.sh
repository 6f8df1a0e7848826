#!/usr/bin/env bash
# Runs every check and test of the project, as CI does. Installs what the
# tests need when it is missing: redis-server (tests start their own Redis
# processes on free ports and never use a server that is already running)
# and Debian's chromium, which the browser test of the members' pages drives
# headless.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  missing+=(redis-server)
fi
if [ ! -x /usr/bin/chromium ]; then
  # fonts-dejavu-core: the pages' screenshots need a font to draw with.
  missing+=(chromium fonts-dejavu-core)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "==> the core stays pure"
# The core must not depend on an async runtime, a web framework or Redis...
for dep in tokio actix-web redis deadpool-redis; do
  if cargo tree -p engagement-core -e normal -i "$dep" >/dev/null 2>&1; then
    echo "engagement-core depends on $dep: the core must do no IO" >&2
    exit 1
  fi
done
# ...nor read a clock, a random source or the file system.
if grep -rnE 'Timestamp::now|SystemTime|Instant::now|thread_rng|rand::|std::fs|std::net|std::thread' engagement-core/src; then
  echo "engagement-core reads a clock, randomness, files, the network or threads" >&2
  exit 1
fi

echo "==> formatting"
cargo fmt --all --check

echo "==> lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> tests"
log=$(mktemp)
set +e
cargo test --workspace --locked 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole run: the sum over every test binary.
awk '/^test result:/ {
       for (i = 1; i <= NF; i++) {
         if ($(i + 1) ~ /^passed/) passed += $i
         if ($(i + 1) ~ /^failed/) failed += $i
       }
     }
     END { printf "tests: %d passed, %d failed\n", passed, failed }' "$log"
rm -f "$log"
exit "$status"
