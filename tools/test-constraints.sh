#!/usr/bin/env bash
# Install the project under the upper-constraints of an end of the range
# of OpenStack releases the documentation claims
# (doc/source/install/supported.inc), on that end's Python, and run the
# unit tests there.
#
#   tools/test-constraints.sh oldest|newest [pytest arguments]
#
# oldest: OpenStack 2024.1 on Python 3.11, tools/oldest-constraints.txt:
#     every runtime dependency at the version 2024.1 pins, which is its
#     lower bound in requirements.txt, and 2024.1's nova.
# newest: OpenStack 2026.1 on Python 3.12, tools/newest-constraints.txt:
#     2026.1's upper-constraints file as OpenStack publishes it, and
#     2026.1's nova.
#
# A fresh virtualenv in $VENV (default .venv-oldest or .venv-newest,
# rebuilt when the requirements, the constraints or the interpreter
# changed) gets the project, editable as devstack's setup_develop installs
# it, under the constraints, with the test tools the unit tests need. The
# interpreter is python3.11 or python3.12 from PATH (or pyenv's, installed
# but not selected), or $PYTHON; without it the job fails, saying what to
# install. Needs network access to PyPI. CI runs both after
# tools/run-tests.sh (.ci/run).
set -euo pipefail

cd "$(dirname "$0")/.."
job=${1:-}
case $job in
    oldest) version=3.11 ;;
    newest) version=3.12 ;;
    *) echo "usage: $0 oldest|newest [pytest arguments]" >&2; exit 2 ;;
esac
shift
VENV=${VENV:-.venv-$job}
CONSTRAINTS=tools/$job-constraints.txt

python_is() {
    "$1" -c 'import sys; sys.exit(sys.version_info[:2] != tuple(
        int(n) for n in sys.argv[1].split(".")))' "$version" 2>/dev/null
}

if [[ -n ${PYTHON:-} ]]; then
    python_is "$PYTHON" || {
        echo "$0 $job: PYTHON=$PYTHON is not Python $version" >&2; exit 1; }
elif python_is "python$version"; then
    PYTHON=python$version
elif command -v pyenv >/dev/null &&
        found=$(pyenv latest "$version" 2>/dev/null) &&
        python_is "$(pyenv root)/versions/$found/bin/python$version"; then
    # Installed in pyenv but not selected: its shim refuses to run it.
    PYTHON=$(pyenv root)/versions/$found/bin/python$version
else
    echo "$0 $job: needs Python $version (python$version), which is" \
         "not installed here: install it (apt-get install" \
         "python$version python$version-venv, or pyenv install" \
         "$version) or give its path in PYTHON=" >&2
    exit 1
fi

stamp=$VENV/.constraints.sha256
want=$(cat requirements.txt tools/*-constraints*.txt setup.cfg |
       cat - <("$PYTHON" -VV) | sha256sum)
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
# Every runtime dependency is installed at the version the constraints
# pin, and so is every other package they pin.
import importlib.metadata
import os
import re
import sys

from packaging import markers
from packaging import utils


def pins(path, out):
    for line in open(path):
        line = line.split('#')[0].strip()
        nested = re.match(r'^-c\s*(\S+)', line)
        if nested:
            pins(os.path.join(os.path.dirname(path), nested.group(1)), out)
            continue
        m = re.match(r'^([A-Za-z0-9_.-]+)===([^;\s]+)\s*(?:;(.*))?$', line)
        if m and (not m.group(3) or markers.Marker(m.group(3)).evaluate()):
            out[utils.canonicalize_name(m.group(1))] = m.group(2)
    return out


pinned = pins(sys.argv[1], {})
wrong = []
for line in open('requirements.txt'):
    m = re.match(r'^([A-Za-z0-9_.-]+)', line.split('#')[0].strip())
    if m and utils.canonicalize_name(m.group(1)) not in pinned:
        wrong.append('%s not pinned' % m.group(1))
for dist in importlib.metadata.distributions():
    name = utils.canonicalize_name(dist.metadata['Name'])
    if name in pinned and dist.version != pinned[name]:
        wrong.append('%s %s, not %s' % (name, dist.version, pinned[name]))
if wrong:
    sys.exit('%s: not the versions it pins: %s' % (
        sys.argv[1], '; '.join(wrong)))
PYEOF
# What is checked here is that the code works at these versions; the
# properties get their full "ci" depth in the main run.
export HYPOTHESIS_PROFILE=${HYPOTHESIS_PROFILE:-dev}
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/unit "$@"
