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

reporter_group = cfg.OptGroup(
    'reporter',
    title='Placement reporter',
    help='The nova-vfio-compat-reporter service, which publishes the '
         'traits of this host\'s VFIO devices to Placement.')

ALL_OPTS = [
    cfg.StrOpt(
        'root_provider_name',
        help='Name of this host\'s compute node resource provider in '
             'Placement (the hypervisor hostname Nova reports). Used when '
             'no UUID identifies it (root_provider_uuid, Nova\'s '
             'compute_id file). The default is computed the way libvirt '
             'computes the hostname Nova\'s libvirt driver uses as the node '
             'name: the system host name if it starts with "localhost" or '
             'contains a dot; otherwise the canonical name the resolver '
             'gives for it, unless that starts with "localhost"; otherwise '
             'the plain host name. Set this when "openstack hypervisor '
             'list" shows another name for this host. The mdev parent '
             'providers are found under the root\'s name as '
             '"<name>_pci_<address>".'),
    cfg.StrOpt(
        'root_provider_uuid',
        help='UUID of this host\'s compute node resource provider. Wins '
             'over everything else. When unset, the UUID Nova stored in the '
             'compute_id file ([DEFAULT] state_path, or beside the files '
             'in [nova] config_files) is used when there is one; else the '
             'provider is found by root_provider_name.'),
    cfg.IntOpt(
        'resync_interval',
        default=300,
        min=1,
        help='Seconds between full syncs when no device change is '
             'signalled. A sync that finds nothing to change makes no '
             'write request to Placement.'),
    cfg.FloatOpt(
        'provider_check_interval',
        default=10.0,
        min=0,
        help='Seconds between checks of this host\'s resource providers '
             'in Placement between full syncs, with the devices last '
             'discovered. A check that finds nothing changed is one '
             'listing of the host\'s provider tree (one GET request, no '
             'device discovery); it puts the traits back on a provider '
             'nova-compute deleted and recreated (an mdev type change, '
             'inventory going to zero and back) within this interval '
             'instead of at the next resync. Placement serves about '
             '(number of hosts / this interval) such requests per second '
             'for the whole cloud. 0 disables the checks.'),
    cfg.FloatOpt(
        'debounce',
        default=2.0,
        min=0,
        deprecated_opts=[cfg.DeprecatedOpt('debounce', group='discovery')],
        help='Seconds without device changes (udev events on PCI '
             'functions, mdevs and driver modules: add, remove, change, '
             'bind, unbind) after which a burst of them causes one '
             'discovery and sync (a driver reload, many VFs created at '
             'once). A steady stream of changes is still synced at most '
             'ten times this long after the first. This is the only wait: '
             'it replaces [discovery] debounce, which was added to it; a '
             'value set there is read here.'),
    cfg.IntOpt(
        'max_backoff',
        default=300,
        min=1,
        help='Upper bound in seconds of the wait between retries while '
             'Placement is unreachable or answering with errors. The wait '
             'starts at one second and doubles on each failure.'),
    cfg.IntOpt(
        'conflict_retries',
        default=4,
        min=0,
        help='How many times to re-read a resource provider and retry '
             'after its generation changed under the reporter (HTTP 409, '
             'usually nova-compute\'s periodic update) within one sync. '
             'What is still not written is retried at the next sync.'),
    cfg.StrOpt(
        'cloud',
        help='Name of a cloud in clouds.yaml to reach Placement with. When '
             'unset, the [placement] keystoneauth options are used (the '
             'ones nova-compute has in nova.conf).'),
    cfg.StrOpt(
        'device_list',
        help='A YAML file listing the devices to publish (address, kind, '
             'mdev_type, capability document) instead of discovering them '
             'from udev. For hosts where discovery does not apply, for '
             'tests and for demos. Relative document paths are relative to '
             'the file.'),
]


DEFAULTS = groups.defaults(ALL_OPTS)


def register_opts(conf):
    groups.register(conf, reporter_group, ALL_OPTS)


def list_opts():
    return {reporter_group: ALL_OPTS}
