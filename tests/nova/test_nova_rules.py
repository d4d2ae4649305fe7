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

"""This project's reading of Nova's configuration, against Nova's own code.

Nova's libvirt driver decides which mdev type each GPU uses
(``_get_supported_vgpu_types``, ``_get_vgpu_type_per_pgpu``) and refuses
some configurations (``InvalidLibvirtMdevConfig``); ``nova/virt/node.py``
reads the compute node UUID.  The driver methods run here on a bare
object holding the attributes ``LibvirtDriver.__init__`` sets, with
Nova's own option definitions parsing the same file this project reads.
"""

import collections
import os
from unittest import mock
import uuid

from hypothesis import given
from hypothesis import strategies as st
from nova.conf import devices as nova_devices_conf
from nova.conf import paths as nova_paths_conf
from nova import exception
from nova.virt.libvirt import driver as libvirt_driver
from nova.virt import node as nova_node
import os_resource_classes as orc
from oslo_config import cfg
import pytest

from nova_vfio_compat.host import compute_conf
from nova_vfio_compat.model import device_config
from nova_vfio_compat.model import devices as nvc_devices
from nova_vfio_compat.model import publication
from nova_vfio_compat.model import records
from nova_vfio_compat.reporter import generated_config

TYPES = ['nvidia-11', 'nvidia-12', 'nvidia-13', 'i915-GVTg_V5_4']
GPUS = ['0000:81:00.0', '0000:81:01.0', '0000:82:00.0', '0000:3b:00.0']
# What an operator may write: the GPUs, an upper-case spelling libvirt
# never reports, and a typo.
WRITTEN = GPUS + ['0000:8A:00.0', '0000:81:00']


class _Driver:
    """The attributes of LibvirtDriver the mdev methods use."""

    _validate_device_address = \
        libvirt_driver.LibvirtDriver._validate_device_address
    _get_supported_vgpu_types = \
        libvirt_driver.LibvirtDriver._get_supported_vgpu_types
    _get_vgpu_type_per_pgpu = \
        libvirt_driver.LibvirtDriver._get_vgpu_type_per_pgpu
    _get_device_address = libvirt_driver.LibvirtDriver._get_device_address
    _is_virtual_mdev = libvirt_driver.LibvirtDriver._is_virtual_mdev

    def __init__(self):
        self.pgpu_type_mapping = collections.defaultdict(str)
        self.mdev_class_mapping = collections.defaultdict(lambda: orc.VGPU)
        self.mdev_classes = set()
        self.mdev_type_max_mapping = collections.defaultdict(str)
        self.pgpu_type_default = None
        self.virtual_mdevs = set()


def _libvirt_name(address):
    if not device_config.is_pci_address(address):
        return address      # a virtual parent: libvirt names it so
    return 'pci_' + address.replace(':', '_').replace('.', '_')


def nova_answer(path, addresses):
    """``(supported types, {address: type})`` by Nova, or the exception."""
    conf = cfg.ConfigOpts()
    nova_devices_conf.register_opts(conf)
    conf([], default_config_files=[path])
    with mock.patch.object(libvirt_driver, 'CONF', conf):
        drv = _Driver()
        try:
            drv.supported_vgpu_types = drv._get_supported_vgpu_types()
        except exception.InvalidLibvirtMdevConfig as e:
            return e
        return (tuple(drv.supported_vgpu_types),
                {a: drv._get_vgpu_type_per_pgpu(_libvirt_name(a)) or None
                 for a in addresses})


def our_answer(path, addresses):
    nova = compute_conf.load([path])
    assert nova.error is None, nova.error
    try:
        types = device_config.gpu_types(nova.mdev_config)
    except device_config.InvalidMdevConfig as e:
        return e
    return types.supported, {a: types.type_for(a) for a in addresses}


def conf_text(enabled, addresses):
    lines = ['[devices]', 'enabled_mdev_types = %s' % ', '.join(enabled)]
    for mdev_type, listed in addresses.items():
        lines += ['[mdev_%s]' % mdev_type]
        if listed is not None:
            lines += ['device_addresses = %s' % ', '.join(listed)]
    return '\n'.join(lines) + '\n'


configs = st.tuples(
    st.lists(st.sampled_from(TYPES), max_size=4),
    st.dictionaries(st.sampled_from(TYPES), st.one_of(
        st.none(), st.lists(st.sampled_from(WRITTEN), max_size=3))))


@given(configs)
def test_type_per_gpu_is_novas(tmp_path_factory, config):
    enabled, addresses = config
    path = tmp_path_factory.mktemp('nova') / 'nova.conf'
    path.write_text(conf_text(enabled, addresses))
    ours = our_answer(str(path), GPUS)
    novas = nova_answer(str(path), GPUS)
    if isinstance(novas, Exception):
        assert isinstance(ours, device_config.InvalidMdevConfig), ours
        # Nova's reason is in the message, whatever the wording around it.
        assert novas.kwargs['reason'].split(':')[0] in str(ours)
        return
    assert ours == novas


def test_the_deprecated_option_name_is_read(tmp_path):
    path = tmp_path / 'nova.conf'
    path.write_text('[devices]\nenabled_vgpu_types = nvidia-12\n'
                    '[vgpu_nvidia-12]\ndevice_addresses = 0000:81:01.0\n')
    assert our_answer(str(path), GPUS) == nova_answer(str(path), GPUS)
    assert our_answer(str(path), GPUS)[1]['0000:81:01.0'] == 'nvidia-12'


# nova-config's proposal, through Nova's loader and mdev check -----------

def _gpu_devices(offers):
    """mdev type devices: ``{address: [(type, has mdevs)]}``."""
    out = []
    for address, types in offers.items():
        for mdev_type, in_use in types:
            document = records.parse_document({
                'device_api': 'vfio-pci', 'vendor': 'nvidia',
                'version': {'major': 1, 'minor': 0},
                'vfio-pci': {'vendor': 0x10de, 'device': 0x1eb8,
                             'subsystem_vendor': 0x10de,
                             'subsystem_device': TYPES.index(mdev_type)},
                'mdev_type': mdev_type}, mdev_type)
            out.append(nvc_devices.Device(
                address=address, kind=nvc_devices.KIND_MDEV_TYPE,
                mdev_type=mdev_type, document=document,
                provenance='file:test', mdevs=('u',) if in_use else ()))
    return out


offers = st.dictionaries(
    st.sampled_from(GPUS),
    st.lists(st.tuples(st.sampled_from(TYPES), st.booleans()), min_size=1,
             max_size=3, unique_by=lambda t: t[0]),
    min_size=1)
operator_choices = st.dictionaries(
    st.one_of(st.none(), st.sampled_from(GPUS)), st.sampled_from(TYPES),
    max_size=2)


@given(offers, st.one_of(st.none(), configs), operator_choices)
def test_nova_config_is_accepted_by_nova(tmp_path_factory, gpus, config,
                                         operator):
    devices = _gpu_devices(gpus)
    mdev_config = None
    if config is not None:
        path = tmp_path_factory.mktemp('nova') / 'given.conf'
        path.write_text(conf_text(*config))
        nova = compute_conf.load([str(path)])
        mdev_config = nova.mdev_config
    outcome = publication.decide(devices, mdev_config, operator=operator)
    published = outcome.published
    # Never more than one type per GPU.
    per_gpu = collections.Counter(d.address for d in published)
    assert all(n == 1 for n in per_gpu.values()), per_gpu
    data, errors = generated_config.nova_conf_data(published)
    assert errors == []
    path = tmp_path_factory.mktemp('nova') / 'proposed.conf'
    path.write_text(generated_config.nova_conf_text(data))
    novas = nova_answer(str(path), GPUS)
    assert not isinstance(novas, Exception), novas
    _supported, per_address = novas
    for address in GPUS:
        chosen = [d.mdev_type for d in published if d.address == address]
        assert per_address[address] == (chosen[0] if chosen else None)


# compute_id --------------------------------------------------------------

NODE = str(uuid.uuid4())


@pytest.mark.parametrize('beside_conf, in_state_path', [
    (None, None), (NODE, None), (None, NODE), (NODE, NODE),
    (NODE, str(uuid.uuid4())), (' %s\n' % NODE.upper(), None),
    ('not-a-uuid', None),
])
def test_compute_id_is_read_as_nova_reads_it(tmp_path, beside_conf,
                                             in_state_path):
    etc, state = tmp_path / 'etc', tmp_path / 'state'
    etc.mkdir()
    state.mkdir()
    conf_path = etc / 'nova.conf'
    conf_path.write_text('[DEFAULT]\nstate_path = %s\n' % state)
    for directory, content in ((etc, beside_conf), (state, in_state_path)):
        if content is not None:
            (directory / compute_conf.COMPUTE_ID_FILE).write_text(content)

    conf = cfg.ConfigOpts()
    conf.register_opt(cfg.StrOpt('state_path'))
    conf(['--config-file', str(conf_path)])
    with mock.patch.object(nova_node, 'CONF', conf):
        try:
            novas = nova_node.read_local_node_uuid()
        except exception.InvalidNodeConfiguration:
            novas = 'invalid'
    try:
        found = compute_conf.read_node_uuid(
            compute_conf.load([str(conf_path)]))
        ours = found[0] if found else None
    except compute_conf.InvalidNodeIdentity:
        ours = 'invalid'
    assert ours == novas
    assert compute_conf.COMPUTE_ID_FILE == nova_node.COMPUTE_ID_FILE


def test_missing_nova_config_file_is_named(tmp_path):
    missing = str(tmp_path / 'nova.conf')
    nova = compute_conf.load([missing])
    assert nova.mdev_config is None and missing in nova.error
    assert os.path.basename(missing) == 'nova.conf'


@pytest.mark.parametrize('line', [
    None, 'state_path = $pybasedir', 'state_path = $pybasedir/state',
    'state_path = ${pybasedir}/lib', 'pybasedir = /opt/nova\n'
    'state_path = $pybasedir/state'])
def test_state_path_is_interpolated_as_nova_does(tmp_path, line):
    conf_path = tmp_path / 'nova.conf'
    conf_path.write_text('[DEFAULT]\n%s\n[devices]\nenabled_mdev_types = '
                         'nvidia-11\n' % (line or ''))
    conf = cfg.ConfigOpts()
    conf.register_opts(nova_paths_conf.ALL_OPTS)
    conf(['--config-file', str(conf_path)])

    nova = compute_conf.load([str(conf_path)])

    # The whole configuration is still Nova's: the mdev type is read.
    assert nova.error is None, nova.error
    assert nova.mdev_config.enabled_types == ('nvidia-11',)
    assert nova.state_path == conf.state_path


def test_without_nova_a_pybasedir_state_path_is_unknown(tmp_path):
    conf_path = tmp_path / 'nova.conf'
    conf_path.write_text('[DEFAULT]\nstate_path = $pybasedir/state\n')
    with mock.patch.object(compute_conf, 'nova_pybasedir', lambda: None):
        nova = compute_conf.load([str(conf_path)])
    assert nova.error is None and nova.state_path is None


@pytest.mark.parametrize('present', [True, False])
def test_a_virtual_mdev_parent_is_accepted_where_nova_does(tmp_path,
                                                           present):
    # mtty, the sample driver: /sys/devices/virtual/mtty/mtty.
    sysfs = tmp_path / 'sys'
    (sysfs / 'devices' / 'virtual' / 'mtty' / ('mtty' if present else
                                               'other')).mkdir(parents=True)
    path = tmp_path / 'nova.conf'
    path.write_text(conf_text(['mtty-1', 'nvidia-11'], {
        'mtty-1': ['mtty_mtty'], 'nvidia-11': ['0000:81:00.0']}))
    real_exists = os.path.exists

    def exists_under_sysfs(name):
        # Nova's driver looks in /sys; this host's sysfs is the test's.
        if name.startswith('/sys/'):
            name = str(sysfs) + name[len('/sys'):]
        return real_exists(name)

    with mock.patch.object(libvirt_driver.os.path, 'exists',
                           exists_under_sysfs):
        novas = nova_answer(str(path), GPUS + ['mtty_mtty'])
    nova = compute_conf.load([str(path)], sysfs_root=str(sysfs))
    try:
        types = device_config.gpu_types(nova.mdev_config)
        ours = (types.supported,
                {a: types.type_for(a) for a in GPUS + ['mtty_mtty']})
    except device_config.InvalidMdevConfig as e:
        ours = e
    if present:
        assert ours == novas
        assert ours[1]['mtty_mtty'] == 'mtty-1'
        assert ours[1]['0000:81:00.0'] == 'nvidia-11'
    else:
        assert isinstance(novas, exception.InvalidLibvirtMdevConfig)
        assert isinstance(ours, device_config.InvalidMdevConfig)
        assert 'mtty_mtty' in str(ours)
