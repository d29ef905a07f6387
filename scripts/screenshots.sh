#!/usr/bin/env bash
# Refresh the README screenshots from the browser tests (never by hand): run tests/e2e, then copy
# the selected desktop screenshots from tests/e2e/artifacts/ into docs/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."

ARTIFACTS=tests/e2e/artifacts
TARGET=docs/screenshots
# name in tests/e2e/artifacts (without -desktop.png) -> file in docs/screenshots.
# Add pages here as the browser tests learn to visit them.
SELECTED=(
  "home:home.png"
  "home-dark:home-dark.png"
  "dashboard:dashboard.png"
  "job:job.png"
  "summary:summary.png"
  "playground:playground.png"
  "account:account.png"
)

rm -rf "$ARTIFACTS"
.venv/bin/pytest tests/e2e -m e2e -q -p no:cacheprovider

mkdir -p "$TARGET"
copied=0
for entry in "${SELECTED[@]}"; do
  source="$ARTIFACTS/${entry%%:*}-desktop.png"
  if [ -f "$source" ]; then
    cp "$source" "$TARGET/${entry##*:}"
    copied=$((copied + 1))
  else
    echo "screenshots: no $source yet (no browser test visits it)" >&2
  fi
done
echo "screenshots: $copied image(s) in $TARGET"
