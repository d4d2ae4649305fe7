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


"""Options of the Nova scheduler filter, read inside nova-scheduler."""

from oslo_config import cfg

from nova_vfio_compat.conf import groups

from nova_vfio_compat.model import policy

GROUP = cfg.OptGroup(
    'vfio_compat_filter',
    title='VFIOCompatFilter',
    help='The Nova scheduler filter that only lets a live migration of a '
         'server with VFIO devices go to hosts whose devices accept the '
         'source devices\' migration streams. Set these in the nova.conf '
         'of nova-scheduler.')

ALL_OPTS = [
    cfg.BoolOpt(
        'fail_open',
        default=False,
        help='What to do with a live migration when the filter cannot get '
             'the data it needs from Placement or the database (an error '
             'answer, a malformed answer, Placement unreachable or past '
             'placement_deadline, any other error of the filter\'s own). '
             'False (fail closed): reject '
             'every host for that request, so the migration fails with '
             'NoValidHost and the server stays where it is. True (fail '
             'open): pass every host, as if the filter were not enabled, '
             'and leave the decision to the destination\'s own checks. '
             'Either way the filter logs an error naming the failed '
             'request.'),
    cfg.FloatOpt(
        'placement_deadline',
        default=30,
        min=1,
        help='Seconds one Placement request of the filter may take in '
             'total, from sending it to the last byte of the answer. '
             'Nova\'s [placement] timeout bounds each read from the socket '
             'only, so a Placement or proxy that answers a byte at a time '
             'would otherwise hold the scheduling request far longer. A '
             'request past its deadline is a failed read: fail_open '
             'decides.'),
    cfg.IntOpt(
        'max_tree_reads',
        default=10,
        min=0,
        help='The most Placement requests a live migration may spend on '
             'asking the trees of its candidate hosts (one request per '
             'host and stream) which of their providers accept the '
             'source devices\' streams. Up to that, what the filter '
             'downloads grows with the hosts handed to it, not with the '
             'fleet. Past it (hosts times streams above this number), '
             'the filter asks once per stream for every accepting '
             'provider of the fleet instead: fewer requests, but each '
             'grows with the fleet (about 2 kB per accepting host). 0 '
             'always asks for the whole fleet. Either way the decisions '
             'are the same.'),
    cfg.StrOpt(
        'default_policy',
        default=policy.POLICY_CHECK,
        choices=[
            (policy.POLICY_CHECK,
             'Check the devices the reporter describes; devices without '
             'capability traits are not checked.'),
            (policy.POLICY_STRICT,
             'Like check, and a server holding a device provider that has '
             'no capability traits, or flavor PCI devices with no '
             'provider at all, cannot be live-migrated by the scheduler '
             'at all. Neutron ports are left alone.'),
            (policy.POLICY_SKIP,
             'Do not check: every host passes.'),
        ],
        help='The policy for flavors that do not set the '
             '"vfio_compat:policy" extra spec.'),
    cfg.ListOpt(
        'device_resource_classes',
        default=[],
        help='More resource classes whose providers are devices of a '
             'server, beside the built-in ones: VGPU, VGPU_DISPLAY_HEAD, '
             'PGPU, PCI_DEVICE, SRIOV_NET_VF, FPGA, CUSTOM_PCI_* (Nova\'s '
             'PCI in Placement) and CUSTOM_VFC_* (this project\'s). Name '
             'here the classes you gave devices yourself in [pci] '
             'device_spec resource_class or [mdev_<type>] mdev_class. '
             'A provider in the source compute node\'s tree on which the '
             'server holds one of these classes is a device, as is one '
             'carrying an emit trait of this project or one of Nova\'s '
             'own GPU and PCI providers, whatever its class; devices are '
             'checked (and, under the strict policy, must be described). '
             'Network bandwidth, sharing storage and other providers are '
             'ignored.'),
]


def register_opts(conf):
    groups.register(conf, GROUP, ALL_OPTS)


def list_opts():
    return {GROUP: ALL_OPTS}
