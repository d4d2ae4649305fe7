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

"""The ``oslo.config.opts`` entry point: every option group, for the
sample config generator (``oslo-config-generator``) and the docs."""

from nova_vfio_compat import conf


def list_opts():
    opts = []
    for module in conf._MODULES:
        for group, group_opts in module.list_opts().items():
            opts.append((group, group_opts))
    return opts
