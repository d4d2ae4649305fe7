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

"""Every configuration option of the project, one module per group.

Importing this package registers all groups on ``cfg.CONF``;
:mod:`.opts` lists them for ``oslo-config-generator``.
"""

from oslo_config import cfg

from nova_vfio_compat.conf import discovery
from nova_vfio_compat.conf import filter as filter_conf
from nova_vfio_compat.conf import nova
from nova_vfio_compat.conf import placement
from nova_vfio_compat.conf import reporter
from nova_vfio_compat.conf import traits

CONF = cfg.CONF

# One line per option group module, as in opts.py.
_MODULES = (
    traits,
    reporter,
    placement,
    discovery,
    nova,
    filter_conf,
)


def register_all(conf):
    """Register every option group of the project on ``conf``."""
    for module in _MODULES:
        module.register_opts(conf)


register_all(CONF)
