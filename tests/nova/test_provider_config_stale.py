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

"""Stale traits with a provider config file, and how they are removed.

Nova merges provider config traits additively
(``ResourceTracker._merge_provider_configs`` adds them to the provider
tree read from Placement), so when a regenerated file no longer has a
trait, Nova does not remove it: a false accept.  The documented remedy:
after restarting nova-compute with the new file, run the reporter once
(``nova-vfio-compat-reporter --once``) with the same configuration; it
removes the owned traits the file no longer has, and Nova's next merge
does not bring them back.

Nova's own file parser and merge code run here against the real
Placement; what stands in for nova-compute is only the read of the tree
and the write of its traits (``update_from_provider_tree``).
"""

import os

from nova.compute import provider_config as nova_provider_config
from nova.compute import provider_tree as nova_provider_tree
from nova.compute import resource_tracker
from oslo_config import cfg

from nova_vfio_compat import conf as nvc_conf
from nova_vfio_compat.host import published_devices
from nova_vfio_compat.model import traits
from nova_vfio_compat.reporter import generated_config
from nova_vfio_compat.reporter import plan
from nova_vfio_compat.reporter import sync
from tests.functional.reporter import conftest as c
from tests.functional.reporter.conftest import placement  # noqa: F401
from tests import reporter_devices as rd

HOST = c.HOST
VGPU_RP = plan.mdev_parent_provider_name(HOST, rd.VGPU_PARENT)
OLD = [(rd.VGPU_PARENT, 'mdev_type', 'nvidia-222',
        'nvidia-t4-grid16.9-222.yaml'),
       (rd.VF, 'pci', None, 'mlx5-vf-fw28.41.yaml')]
NEW = [(rd.VGPU_PARENT, 'mdev_type', 'nvidia-222',
        'nvidia-t4-grid17.5-222.yaml'),
       (rd.VF, 'pci', None, 'mlx5-vf-fw28.43.yaml')]


class _Tracker:
    """The state ``_merge_provider_configs`` uses."""

    _get_providers_to_update = \
        resource_tracker.ResourceTracker._get_providers_to_update
    _merge_provider_configs = \
        resource_tracker.ResourceTracker._merge_provider_configs

    def __init__(self):
        self.absent_providers = set()


def _conf(tmp_path, entries):
    devices = tmp_path / 'devices.yaml'
    devices.write_text('devices:\n' + ''.join(
        "  - {address: '%s', kind: %s, %sdocument: '%s'}\n"
        % (address, kind, 'mdev_type: %s, ' % t if t else '',
           os.path.join(rd.SAMPLES, sample))
        for address, kind, t, sample in entries))
    conf = cfg.ConfigOpts()
    nvc_conf.register_all(conf)
    conf([], default_config_files=[])
    conf.set_override('device_list', str(devices), group='reporter')
    return conf


def _provider_config(tmp_path, conf):
    """Write the provider config file as ``provider-config`` does."""
    devices, _signal = published_devices.published_source(conf)
    config, errors = generated_config.provider_config(devices(), HOST)
    assert errors == []
    directory = tmp_path / 'provider_config'
    directory.mkdir(exist_ok=True)
    (directory / 'vfio-compat.yaml').write_text(
        generated_config.provider_config_yaml(config))
    return nova_provider_config.get_provider_configs(str(directory))


def _nova_periodic(conn, provider_configs):
    """nova-compute's periodic update, as far as traits go.

    The tree as Placement has it, Nova's merge of the provider configs,
    and the traits written back.
    """
    pl = conn.placement
    root = next(iter(pl.resource_providers(name=HOST)))
    tree = nova_provider_tree.ProviderTree()
    current = {}
    for rp in pl.resource_providers(in_tree=root.id):
        if rp.id == root.id:
            tree.new_root(rp.name, rp.id)
        else:
            tree.new_child(rp.name, rp.parent_provider_id, uuid=rp.id)
        current[rp.id] = pl.get_resource_provider_trait(rp.id)
        tree.update_traits(rp.id, current[rp.id].traits)
    _Tracker()._merge_provider_configs(provider_configs, tree)
    for uuid, now in current.items():
        merged = tree.data(uuid).traits
        if merged != set(now.traits):
            for name in merged - set(now.traits):
                pl.create_trait(name)
            pl.set_resource_provider_trait(now, traits=sorted(merged))


def _owned(conn, name):
    return {t for t in c.traits_of(conn, name) if traits.is_owned(t)}


def _expected(entries, mdev_only=False):
    out = set()
    for _address, kind, mdev_type, sample in entries:
        if not mdev_only or kind == 'mdev_type':
            out |= rd.sample_traits(kind, mdev_type, sample)
    return out


def _on_root(entries):
    """The compute node provider's: the PCI devices' traits only."""
    return _expected(entries) - _expected(entries, mdev_only=True)


def test_reporter_once_removes_what_a_regenerated_file_dropped(
        tmp_path, placement):  # noqa: F811
    conn = placement.conn
    c.nova_layout(conn, mdev_parents=[rd.VGPU_PARENT], pci=[rd.VF])
    old_conf = _conf(tmp_path, OLD)
    _nova_periodic(conn, _provider_config(tmp_path, old_conf))
    assert _owned(conn, HOST) == _on_root(OLD)
    assert _owned(conn, VGPU_RP) == _expected(OLD, mdev_only=True)

    # The drivers are upgraded and the file regenerated; nova-compute
    # restarts with it.  Nova's merge only adds: the old traits stay.
    new_conf = _conf(tmp_path, NEW)
    new_configs = _provider_config(tmp_path, new_conf)
    _nova_periodic(conn, new_configs)
    stale = _on_root(OLD) - _on_root(NEW)
    assert stale and stale <= _owned(conn, HOST)

    # The remedy: the reporter once, with the same configuration.
    devices, _signal = published_devices.published_source(new_conf)
    result = sync.Reporter(conn, HOST).sync(devices())
    assert result.ok, result.errors
    assert _owned(conn, HOST) == _on_root(NEW)
    assert _owned(conn, VGPU_RP) == _expected(NEW, mdev_only=True)

    # Nova's next periodic merge does not bring them back, and the
    # traits that are not the project's are untouched.
    _nova_periodic(conn, new_configs)
    assert _owned(conn, HOST) == _on_root(NEW)
    assert c.traits_of(conn, HOST) - _owned(conn, HOST) == (
        c.NOVA_ROOT_TRAITS | {c.OTHER_AGENT_TRAIT})
    assert 'OWNER_NOVA' in c.traits_of(conn, VGPU_RP)
