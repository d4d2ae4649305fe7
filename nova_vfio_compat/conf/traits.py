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

from oslo_config import cfg

from nova_vfio_compat.conf import groups

from nova_vfio_compat.model import traits

traits_group = cfg.OptGroup(
    'traits',
    title='Trait encoding',
    help='How capability documents are compiled into Placement traits.')

ALL_OPTS = [
    cfg.IntOpt(
        'max_traits_per_provider',
        default=traits.DEFAULT_MAX_TRAITS,
        min=2,
        max=10000,
        help='Upper bound on the number of traits this project puts on one '
             'resource provider. A device whose capability document expands '
             'to more traits (typically a very wide accepted minor version '
             'range) is reported as an error naming the device and is not '
             'published; it is never silently truncated. The default holds '
             'a firmware family accepting 44 minor versions from several '
             'accepted records with room to spare.'),
]


def register_opts(conf):
    groups.register(conf, traits_group, ALL_OPTS)


def list_opts():
    return {traits_group: ALL_OPTS}
