#!/usr/bin/env bash
# Install the project at the oldest versions it supports and run the unit
# tests there: the lower bounds of requirements.txt must install under the
# upper-constraints of the oldest OpenStack release the documentation
# claims (doc/source/install/supported.inc) and work.
#
#   tools/test-oldest.sh [pytest arguments]
#
# A fresh virtualenv in $VENV (default .venv-oldest, rebuilt when the
# requirements or the constraints changed) gets the project, editable as
# devstack's setup_develop installs it, under tools/oldest-constraints.txt,
# with the test tools the unit tests need. Needs network access to PyPI.
# CI runs it after tools/run-tests.sh (.ci/run).
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=${VENV:-.venv-oldest}
PYTHON=${PYTHON:-python3}
CONSTRAINTS=tools/oldest-constraints.txt

stamp=$VENV/.oldest.sha256
want=$(cat requirements.txt "$CONSTRAINTS" setup.cfg | sha256sum)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q -U pip
    # The unit tests' own tools, and Nova (the scheduler filter's base
    # class) at the version of the constraints.
    "$VENV/bin/python" -m pip install -q -c "$CONSTRAINTS" \
        -e . nova 'pytest>=8.0' 'hypothesis>=6.100'
    echo "$want" > "$stamp"
fi
"$VENV/bin/python" -m pip check
"$VENV/bin/python" - "$CONSTRAINTS" <<'PYEOF'
# The versions installed are the ones the constraints pin.
import importlib.metadata
import re
import sys

wrong = []
for line in open(sys.argv[1]):
    m = re.match(r'^([A-Za-z0-9_.-]+)===(\S+)', line)
    if m and importlib.metadata.version(m.group(1)) != m.group(2):
        wrong.append('%s %s, not %s' % (
            m.group(1), importlib.metadata.version(m.group(1)), m.group(2)))
if wrong:
    sys.exit('not the oldest versions: %s' % '; '.join(wrong))
PYEOF
# What is checked here is that the code works at these versions; the
# properties get their full "ci" depth in the main run.
export HYPOTHESIS_PROFILE=${HYPOTHESIS_PROFILE:-dev}
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/unit "$@"
