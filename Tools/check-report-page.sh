#!/usr/bin/env bash
# Opens a restoration report page in headless Chromium (Debian package `chromium`, installed by
# `make setup`), takes a screenshot, and checks the page rendered: its script ran without errors
# and every embedded image decoded.
#   Tools/check-report-page.sh REPORT.html SCREENSHOT.png
set -euo pipefail
page=${1:?usage: check-report-page.sh REPORT.html SCREENSHOT.png}
shot=${2:?usage: check-report-page.sh REPORT.html SCREENSHOT.png}
browser=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$browser" ] || { echo "check-report-page: no chromium (run make setup)" >&2; exit 2; }
[ -f "$page" ] || { echo "check-report-page: $page does not exist" >&2; exit 2; }
url="file://$(cd "$(dirname "$page")" && pwd)/$(basename "$page")"
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# Root in a container needs --no-sandbox; a private profile keeps runs independent.
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$profile" --virtual-time-budget=5000)
rm -f "$shot"
"$browser" "${flags[@]}" --window-size=1400,3000 --screenshot="$shot" "$url" >/dev/null 2>"$profile/shot.log" || {
    echo "check-report-page: chromium failed to take the screenshot: $(tail -1 "$profile/shot.log")" >&2; exit 1; }
dom=$("$browser" "${flags[@]}" --dump-dom "$url" 2>"$profile/dom.log") || {
    echo "check-report-page: chromium failed to load the page: $(tail -1 "$profile/dom.log")" >&2; exit 1; }
body=$(printf '%s' "$dom" | grep -o '<body[^>]*>' | head -1)
size=$(stat -c %s "$shot" 2>/dev/null || echo 0)
errors=$(printf '%s' "$body" | sed -n 's/.*data-script-errors="\([^"]*\)".*/\1/p')
images=$(printf '%s' "$body" | sed -n 's/.*data-images="\([^"]*\)".*/\1/p')
wipes=$(printf '%s' "$body" | sed -n 's/.*data-wipes="\([^"]*\)".*/\1/p')
fail=""
[ "$size" -gt 10000 ] || fail="$fail; screenshot missing or blank ($size bytes)"
[ -z "$errors" ] || fail="$fail; script errors: $errors"
printf '%s' "$body" | grep -q 'data-rendered="yes"' || fail="$fail; the page script did not run"
if [ -z "$images" ]; then fail="$fail; image check did not run"
elif [ "${images%/*}" != "${images#*/}" ]; then fail="$fail; only $images images decoded"; fi
if [ -n "$wipes" ] && [ "${wipes%/*}" != "${wipes#*/}" ]; then fail="$fail; only $wipes before/after wipes drawn"; fi
if grep -q 'Uncaught' "$profile/dom.log" "$profile/shot.log"; then fail="$fail; console: $(grep -h 'Uncaught' "$profile"/*.log | head -1)"; fi
if [ -n "$fail" ]; then echo "check-report-page: $page:${fail#;}" >&2; exit 1; fi
echo "check-report-page: $page rendered in $("$browser" --version 2>/dev/null | head -1): images $images decoded, wipes ${wipes:-none} drawn, no script errors, screenshot $shot ($size bytes)"
