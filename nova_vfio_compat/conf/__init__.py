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

Importing this package registers nothing: a process registers the groups
it reads on the ``ConfigOpts`` it reads them from.  The commands and the
reporter call :func:`register_all` on a ``ConfigOpts`` of their own; the
scheduler filter, inside nova-scheduler, registers :mod:`.filter` alone on
Nova's ``cfg.CONF``.  :mod:`.opts` lists every group for
``oslo-config-generator``.
"""

from nova_vfio_compat.conf import discovery
from nova_vfio_compat.conf import filter as filter_conf
from nova_vfio_compat.conf import nova
from nova_vfio_compat.conf import placement
from nova_vfio_compat.conf import reporter
from nova_vfio_compat.conf import traits

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
