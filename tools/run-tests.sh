#!/usr/bin/env bash
# Run the whole test suite, the way CI does.
#
#   tools/run-tests.sh               install what the tests need, then test
#   tools/run-tests.sh --no-install  use the current python as it is (tox)
#
# Installing means: a virtualenv in $VENV (default .venv) with the project
# and test-requirements.txt, and the Debian packages bindep.txt lists for
# tests (apt-get, when run as root or with sudo; otherwise it says what to
# install and stops).
#
# The suite runs as pytest processes; some must not share one:
#   1. main: tests/ without udev, nova and functional: the core, the CLI,
#      the documentation, the devstack plugin;
#   2. functional: tests/functional (the reporter against the real
#      Placement, the demo, the commands that read Placement), beside
#      main for balance;
#   3. udev: tests/udev under umockdev's LD_PRELOAD (the whole process
#      sees the emulated /sys, which would break anything reading the
#      real one);
#   4. tests/nova with nova's native threading (no eventlet monkey
#      patching, which must be decided before anything imports nova), as
#      three processes: the benchmark-shaped tests (NOVA_BENCH), NOVA_2's
#      files and the others.
# They share no state (each test or module makes its own Placement,
# sqlite database and temporary directories; ports are the kernel's), so
# they run side by side: on two cores the suite takes about half its CPU
# time, as long as no process takes more than that half (the figures
# per process are in doc/source/contributor/testing.rst). Each one's
# output is printed, whole, when all have finished; the last line sums
# them up: "N passed, N failed, N skipped".
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
install=1
if [[ ${1:-} == --no-install ]]; then
    install=0
    shift
fi

as_root() {
    if [[ $(id -u) == 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        return 1
    fi
}

if (( install )); then
    if [[ ! -x $VENV/bin/python ]]; then
        "$PYTHON" -m venv "$VENV"
    fi
    PY=$VENV/bin/python
    "$PY" -m pip install -q -U pip bindep
    # bindep prints the missing packages and exits 1 when there are some.
    if missing=$("$VENV/bin/bindep" -b test); then
        :
    else
        echo "Installing Debian packages from bindep.txt: $missing"
        # shellcheck disable=SC2086
        if ! { as_root apt-get update -qq &&
               as_root env DEBIAN_FRONTEND=noninteractive \
                   apt-get install -y -qq $missing; }; then
            echo "Could not install: $missing" >&2
            echo "Install them (apt-get install $missing) and run again." >&2
            exit 1
        fi
    fi
    # Reinstall only when a requirements file changed.
    stamp=$VENV/.requirements.sha256
    want=$(cat requirements.txt test-requirements.txt setup.cfg | sha256sum)
    if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
        "$PY" -m pip install -q -r requirements.txt -r test-requirements.txt
        "$PY" -m pip install -q --no-deps -e .
        echo "$want" > "$stamp"
    fi
else
    PY=$(command -v python)
fi

export HYPOTHESIS_PROFILE=${HYPOTHESIS_PROFILE:-ci}
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
status=0
names=()

# tests/nova in three processes of about the same CPU time: the tests
# that build fleets (NOVA_BENCH), the files of NOVA_2, and the others.
NOVA_BENCH=(tests/nova/test_benchmarks.py tests/nova/test_upgrade_benchmark.py)
NOVA_2=(tests/nova/test_policies.py tests/nova/test_live_migration.py
        tests/nova/test_mdev_types.py tests/nova/test_pci_pools.py
        tests/nova/test_placement_calls.py)
args=("$@")

start() {
    local name=$1
    shift
    names+=("$name")
    # pytest exits 5 when it collected nothing: that is a failure here.
    # `times` (a bash builtin, run in the subshell itself) gives on its
    # second line the CPU time of the subshell's children: the pytest
    # process and the processes it waited for.
    ( rc=0 began=$SECONDS
      "$@" --junitxml="$results/$name.xml" >"$results/$name.out" 2>&1 ||
          rc=$?
      echo "$rc" >"$results/$name.rc"
      echo $((SECONDS - began)) >"$results/$name.time"
      times >>"$results/$name.time" ) &
}

# The CPU seconds of the processes whose .time files are given: their
# third line, the children's user and system times ("1m2.5s 0m0.3s").
cpu_seconds() {
    awk 'function sec(t) { split(t, p, "m"); return p[1] * 60 + p[2] }
        FNR == 3 { cpu += sec($1) + sec($2) }
        END { printf "%d", cpu }' "$@"
}

# "12 s wall, 20 s CPU" of one process, from its .time file.
cost() {
    local file=$results/$1.time
    [[ -f $file ]] || return 0
    echo "$(head -n 1 "$file") s wall, $(cpu_seconds "$file") s CPU"
}

start main "$PY" -m pytest -q -p no:cacheprovider tests \
    --ignore=tests/udev --ignore=tests/nova --ignore=tests/functional "$@"
if [[ -d tests/functional ]]; then
    start functional "$PY" -m pytest -q -p no:cacheprovider tests/functional \
        "$@"
fi
if [[ -d tests/udev ]]; then
    start udev umockdev-wrapper "$PY" -m pytest -q -p no:cacheprovider \
        tests/udev "$@"
fi
if [[ -d tests/nova ]]; then
    ignore=()
    nova_part() {
        # The listed files that exist, in a process of their own.
        local name=$1 path
        local files=()
        shift
        for path in "$@"; do
            if [[ -f $path ]]; then
                files+=("$path")
                ignore+=("--ignore=$path")
            fi
        done
        if (( ${#files[@]} )); then
            OS_NOVA_DISABLE_EVENTLET_PATCHING=1 start "$name" "$PY" -m \
                pytest -q -p no:cacheprovider "${files[@]}" "${args[@]}"
        fi
    }
    nova_part nova-bench "${NOVA_BENCH[@]}"
    nova_part nova-2 "${NOVA_2[@]}"
    OS_NOVA_DISABLE_EVENTLET_PATCHING=1 start nova "$PY" -m pytest -q \
        -p no:cacheprovider tests/nova "${ignore[@]}" "${args[@]}"
fi
wait
for name in "${names[@]}"; do
    echo "==> $name ($(cost "$name"))"
    cat "$results/$name.out"
    if [[ $(cat "$results/$name.rc" 2>/dev/null) != 0 ]]; then
        status=1
    fi
done

# The CPU time of all the processes: on two cores, the suite's wall time
# is about half of it.
echo "$(cpu_seconds "$results"/*.time) s of CPU in all"

"$PY" - "$results" <<'PYEOF'
import glob
import sys
import xml.etree.ElementTree as ET

total = {'tests': 0, 'failures': 0, 'errors': 0, 'skipped': 0}
for path in glob.glob(sys.argv[1] + '/*.xml'):
    for suite in ET.parse(path).getroot().iter('testsuite'):
        for key in total:
            total[key] += int(suite.get(key, 0))
failed = total['failures'] + total['errors']
passed = total['tests'] - failed - total['skipped']
print('%d passed, %d failed, %d skipped' % (passed, failed, total['skipped']))
PYEOF
exit $status
