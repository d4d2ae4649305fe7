# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""The device trees are umockdev's own format: its tools load them.

Someone debugging discovery runs ``umockdev-run -d trees/<name>.umockdev
-- <command>`` on a tree; umockdev rejects a file with anything it does
not know (a comment line included), so each tree is checked here with
``umockdev-run`` itself, read back through libudev inside it, and has its
description beside it.
"""

import json
import shutil
import subprocess
import sys

import pytest

from tests.udev import conftest as udev_conftest

# Run inside umockdev-run: every device libudev sees, with its properties.
LIST_DEVICES = '''
import json, pyudev
print(json.dumps({d.device_path: dict(d.properties)
                  for d in pyudev.Context().list_devices()}))
'''


def _declared(path):
    """``{devpath: {property: value}}`` as the tree file declares them."""
    devices, current = {}, None
    for line in path.read_text().splitlines():
        kind, _, value = line.partition(': ')
        if kind == 'P':
            current = devices[value] = {}
        elif kind == 'E':
            key, _, val = value.partition('=')
            current[key] = val
    return devices


def test_every_tree_has_a_description():
    names = udev_conftest.tree_names()
    assert len(names) >= 7
    described = sorted(p.stem for p in udev_conftest.TREES.glob('*.txt'))
    assert described == names
    for name in names:
        assert (udev_conftest.TREES / (name + '.txt')).read_text().strip()


@pytest.mark.parametrize('name', udev_conftest.tree_names())
def test_umockdev_run_loads_the_tree(name):
    umockdev_run = shutil.which('umockdev-run')
    if umockdev_run is None:
        pytest.skip('umockdev-run is not installed (bindep.txt: umockdev)')
    path = udev_conftest.TREES / (name + '.umockdev')
    proc = subprocess.run(
        [umockdev_run, '-d', str(path), '--', sys.executable, '-c',
         LIST_DEVICES], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    declared = _declared(path)
    assert declared, 'no "P:" line in %s' % path
    for devpath, properties in declared.items():
        assert devpath in seen, '%s: %s not loaded' % (name, devpath)
        for key, value in properties.items():
            assert seen[devpath].get(key) == value, (name, devpath, key)
