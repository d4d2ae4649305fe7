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

"""What loading the filter registers inside nova-scheduler."""

import json
import os
import subprocess
import sys

from nova_vfio_compat.scheduler import vfio_compat_filter

# Nova registers its options on the global cfg.CONF at import, so each
# run needs a fresh interpreter.
_CODE = '''
import ast
import importlib
import json
import sys

from oslo_config import cfg

# Nova's modules the filter imports register Nova's options; import them
# first, so that what is left is what the filter registers.
def is_nova(name):
    return name == 'nova' or name.startswith('nova.')


tree = ast.parse(open(sys.argv[1]).read())
for node in ast.walk(tree):
    if isinstance(node, ast.ImportFrom) and is_nova(node.module):
        for alias in node.names:
            try:
                importlib.import_module(node.module + '.' + alias.name)
            except ImportError:
                importlib.import_module(node.module)
    elif isinstance(node, ast.Import):
        for alias in node.names:
            if is_nova(alias.name):
                importlib.import_module(alias.name)


def options():
    return {name: sorted(cfg.CONF[name]) if isinstance(
                cfg.CONF[name], cfg.ConfigOpts.GroupAttr) else None
            for name in cfg.CONF}


before = options()
import nova_vfio_compat.scheduler  # noqa
after = options()
print(json.dumps({
    'groups': sorted(set(after) - set(before)),
    'changed': sorted(name for name in before
                      if before[name] != after[name]),
    'filter': after.get('vfio_compat_filter'),
}))
'''


def test_the_filter_registers_only_its_own_group_in_nova():
    env = dict(os.environ, OS_NOVA_DISABLE_EVENTLET_PATCHING='1')
    done = subprocess.run([sys.executable, '-c', _CODE,
                           vfio_compat_filter.__file__], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.splitlines()[-1])
    assert found['groups'] == ['vfio_compat_filter']
    # Nothing added to nova's groups ([placement] included).
    assert found['changed'] == []
    assert found['filter'] == ['default_policy', 'device_resource_classes',
                               'fail_open', 'max_tree_reads',
                               'placement_deadline']
