#!/usr/bin/env bash
# Runs one test (a pytest node id) N times in a row and prints each run's result and wall time, then the count
# that passed: for a test that must not fail at random (not part of CI, which runs each test once).
#   bash infra/ci/repeat-test.sh 20 tests/study/test_ray_lost.py::test_a_lost_ray_is_reported_at_once_and_the_same_command_resumes
# Exit 0 when every run passed, 1 otherwise. Uses the project's .venv (the README's test command makes it).
set -uo pipefail
cd "$(dirname "$0")/../.."
runs=${1:?usage: repeat-test.sh N TEST_ID}
test=${2:?usage: repeat-test.sh N TEST_ID}
python=${PYTHON:-.venv/bin/python}
passed=0
for ((i = 1; i <= runs; i++)); do
    started=$(date +%s.%N)
    if "$python" -m pytest -q -p no:cacheprovider "$test" >"/tmp/repeat-test-$i.log" 2>&1; then
        result=pass
        passed=$((passed + 1))
    else
        result="FAIL (output: /tmp/repeat-test-$i.log)"
    fi
    printf 'run %d/%d: %s in %s s\n' "$i" "$runs" "$result" "$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
done
echo "$passed of $runs passed"
[[ $passed -eq $runs ]]
