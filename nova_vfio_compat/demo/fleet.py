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

"""The demo's simulated compute hosts and servers (data only).

Each host lists its VFIO devices by PCI address with the bundled sample
document (``nova_vfio_compat/samples``) that describes it.  ``gpus`` are
mdev parents (Nova creates a ``<host>_pci_<addr>`` provider with VGPU
inventory for each); ``vfs`` are SR-IOV VFs that Nova tracks as PCI devices
under their PF's provider (``<host>_<PF ADDR>``).
"""

HOSTS = {
    'compute-a': {
        'gpus': [('0000:81:00.0', 'nvidia-t4-grid17.4-222.json')],
        'vfs': [('0000:5e:00.2', '0000:5e:00.0', 'mlx5-vf-fw28.41.yaml')],
    },
    'compute-b': {
        'gpus': [('0000:81:00.0', 'nvidia-t4-grid17.5-222.yaml')],
        'vfs': [('0000:5e:00.2', '0000:5e:00.0', 'mlx5-vf-fw28.43.yaml')],
    },
    'compute-c': {
        'gpus': [('0000:81:00.0', 'nvidia-t4-grid16.9-222.yaml')],
        'vfs': [('0000:5e:00.2', '0000:5e:00.0', 'mlx5-vf-fw28.41.yaml')],
    },
    # Two GPUs of which only the second accepts compute-a's stream: the
    # filter must make the claim land on that one.
    'compute-d': {
        'gpus': [('0000:81:00.0', 'nvidia-t4-grid16.9-222.yaml'),
                 ('0000:82:00.0', 'nvidia-t4-grid17.5-222.yaml')],
        'vfs': [],
    },
    # Intel GVT-g: e runs the aggregated type V5_8, f a newer driver whose
    # small type V5_4 could receive it when created with aggregation=3 by
    # the documents' rules; but Nova migrates an mdev only into one of the
    # same type, so f is refused.
    'compute-e': {
        'gpus': [('0000:00:02.0', 'gvt-i915-v1.2-aggr3.yaml')],
        'vfs': [],
    },
    'compute-f': {
        'gpus': [('0000:00:02.0', 'gvt-i915-v1.3-type4.yaml')],
        'vfs': [],
    },
}

# The maintenance pre-flight: drain DRAIN_HOST.  (server, host, device
# address, amount): the servers to move, and servers already using some
# of the destinations' devices (compute-b's GPU has 2 VGPU left,
# compute-d's second GPU 1).
DRAIN_HOST = 'compute-a'
DRAIN_SERVERS = [
    ('vm-train-1', 'compute-a', '0000:81:00.0', 2),
    ('vm-train-2', 'compute-a', '0000:81:00.0', 2),
    ('vm-net', 'compute-a', '0000:5e:00.2', 1),
    ('vm-resident-b', 'compute-b', '0000:81:00.0', 2),
    ('vm-resident-d', 'compute-d', '0000:82:00.0', 3),
]
# What if compute-c's GPU driver were upgraded to compute-b's first?
DRAIN_ASSUME = ('compute-c', 'nvidia-t4-grid17.5-222.yaml')
# The rolling upgrade "plan-upgrade --target ..." plans, with the servers
# of DRAIN_SERVERS: the T4 driver and the ConnectX firmware to the newest.
UPGRADE_TARGETS = ('nvidia-t4-grid17.5-222.yaml', 'mlx5-vf-fw28.43.yaml')

# (server, source host, the source device's address, resource request)
SERVERS = [
    ('vm-vgpu', 'compute-a', '0000:81:00.0', 'VGPU'),
    ('vm-gvt', 'compute-e', '0000:00:02.0', 'VGPU'),
    ('vm-vf', 'compute-c', '0000:5e:00.2', 'PCI'),
    ('vm-plain', 'compute-b', None, None),
]
