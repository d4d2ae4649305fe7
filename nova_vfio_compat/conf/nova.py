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

nova_group = cfg.OptGroup(
    'nova',
    title='What this host\'s Nova uses',
    help='Where nova-compute\'s own configuration is, so that only what '
         'Nova will really do is published: the one mdev type Nova uses '
         'on each GPU, the compute node by the UUID Nova stored.')

ALL_OPTS = [
    cfg.ListOpt(
        'config_files',
        default=[],
        help='nova-compute\'s configuration files, in the order '
             'nova-compute is given them (e.g. /etc/nova/nova.conf). From '
             'them: [devices] enabled_mdev_types and each [mdev_<type>] '
             'device_addresses, applied with the rules of Nova\'s libvirt '
             'driver (the first enabled type without device_addresses is '
             'the type of every GPU not listed), so that each GPU\'s '
             'provider gets the traits of the one type Nova uses there; '
             'and [DEFAULT] state_path, where Nova keeps the compute node '
             'UUID (compute_id). When no file is given, the mdev type of '
             'a GPU is the type of its existing mdevs, else its only type; '
             'a GPU with several types and no mdevs publishes nothing.'),
    cfg.ListOpt(
        'config_dirs',
        default=[],
        help='nova-compute\'s configuration directories (its --config-dir; '
             'their .conf files are read after config_files, in sorted '
             'order). A directory that does not exist or cannot be read '
             'is an error, as for nova-compute: the reporter then '
             'publishes and withdraws nothing.'),
    cfg.BoolOpt(
        'precreated_mdev_attrs',
        default=False,
        help='Publish accept records that need the destination mdev created '
             'with attributes (mdev_attrs, e.g. aggregation=3). Nova creates '
             'mdevs with a type and a UUID only, so by default such a '
             'record is not published: the migration would fail at the '
             'destination. Enable only where the site pre-creates such '
             'mdevs (e.g. with mdevctl) on the GPUs of this host, which '
             'Nova then reuses. Nova reuses any unassigned mdev of the '
             'type whatever its attributes and creates plain ones when '
             'none is left, so even then such a record is published only '
             'on a GPU whose every mdev exists (available_instances 0).'),
]


def register_opts(conf):
    groups.register(conf, nova_group, ALL_OPTS)


def list_opts():
    return {nova_group: ALL_OPTS}
