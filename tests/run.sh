#!/usr/bin/env bash
# Runs every CallGrains test and prints one summary line computed from the TRX results.
# Installs what the tests need (redis-server, nginx, chromium, coturn) when it is missing. Exit status is non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || need_apt+=(nginx)
# The browser tests drive Debian's Chromium (/usr/bin/chromium) with Playwright's bundled driver: no browser download.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
# The TURN tests run a real coturn (turnserver, with use-auth-secret) on loopback.
command -v turnserver >/dev/null 2>&1 || need_apt+=(coturn)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null \
    || { echo "could not install ${need_apt[*]}"; exit 1; }
fi

results="TestResults"
rm -rf "$results"
# One test project at a time: the cluster tests start real processes, and timing tests should not share the CPU with them.
dotnet test CallGrains.sln -c Release -m:1 --logger "trx" --results-directory "$results" --logger "console;verbosity=normal" "$@"
status=$?

python3 - "$results" "$status" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
results, status = sys.argv[1], int(sys.argv[2])
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
passed = failed = skipped = 0
files = glob.glob(f"{results}/**/*.trx", recursive=True)
for f in files:
    root = ET.parse(f).getroot()
    # Name each failed test with the first lines of its message next to the summary: CI keeps only the output's tail.
    for r in root.iter(f"{{{ns['t']}}}UnitTestResult"):
        if r.get("outcome") not in ("Passed", "NotExecuted"):
            msg = r.find("t:Output/t:ErrorInfo/t:Message", ns)
            text = (msg.text or "").strip().splitlines()[:3] if msg is not None else []
            print(f"FAILED {r.get('testName')} ({r.get('duration')})")
            for t in text:
                print(f"    {t[:300]}")
    counters = root.find("t:ResultSummary/t:Counters", ns)
    passed += int(counters.get("passed", 0))
    failed += int(counters.get("failed", 0)) + int(counters.get("error", 0)) + int(counters.get("timeout", 0)) + int(counters.get("aborted", 0))
    skipped += int(counters.get("notExecuted", 0))
if status != 0 and failed == 0:
    # The run broke before or outside the tests (build error, crashed host): count it as a failure.
    failed = 1
line = f"tests: {passed} passed, {failed} failed"
if skipped:
    line += f", {skipped} skipped"
print(line)
sys.exit(1 if failed or passed == 0 else 0)
PY
