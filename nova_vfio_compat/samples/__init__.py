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


"""The sample capability documents bundled with the package.

Examples for trying the tools (``nova-vfio-compat matrix``, the demo) and
for the tests, not vendor data: see ``README.txt`` here.
"""

import os

DIR = os.path.dirname(os.path.abspath(__file__))
_SUFFIXES = ('.yaml', '.yml', '.json')


def path(name):
    """The path of the bundled document ``name``."""
    return os.path.join(DIR, name)


def paths():
    """The paths of every bundled document, sorted."""
    return sorted(path(name) for name in os.listdir(DIR)
                  if name.endswith(_SUFFIXES))
