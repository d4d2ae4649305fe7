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


"""pytest set-up for Nova's functional harness (a separate pytest process).

Run with ``OS_NOVA_DISABLE_EVENTLET_PATCHING=1`` (native threads).
"""

import os
import sys

# The nova wheel installs api-paste.ini under <prefix>/etc/nova/, but nova's
# ConfFixture defaults [wsgi] api_paste_config to $state_path/etc/nova/,
# which only exists in a git checkout.  oslo.config's environment source
# (OS_<GROUP>__<OPT>) wins over set_default().
os.environ.setdefault(
    'OS_WSGI__API_PASTE_CONFIG',
    os.path.join(sys.prefix, 'etc', 'nova', 'api-paste.ini'))

# Eventlet or native threads must be decided before anything imports
# eventlet or futurist, i.e. before any other nova or oslo import; nova's
# own tests/functional/__init__.py does the same.
from nova import monkey_patch  # noqa: E402

monkey_patch.patch()

import nova.test  # noqa: E402

_clear_attrs = nova.test.TestCase._clear_attrs


def _clear_attrs_keeping_tests(self):
    # nova's TestCase._clear_attrs() deletes every instance attribute after
    # a test, including the bound test method pytest >= 8 sets on the
    # instance, which then fails with AttributeError.  Keep test*.
    keep = {k: v for k, v in self.__dict__.items() if k.startswith('test')}
    _clear_attrs(self)
    self.__dict__.update(keep)


nova.test.TestCase._clear_attrs = _clear_attrs_keeping_tests
