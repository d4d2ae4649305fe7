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

"""The generated Nova configuration, checked with Nova's own parsers."""

import dataclasses
import importlib.metadata
import json
import os
import subprocess
import sys

from nova.compute import provider_config as nova_provider_config
from nova.conf import devices as nova_devices_conf
from oslo_config import cfg
import pytest
import yaml

from nova_vfio_compat.model import device_config
from nova_vfio_compat.model import devices as nvc_devices
from nova_vfio_compat.model import publication
from nova_vfio_compat.model import traits
from nova_vfio_compat.reporter import generated_config
from nova_vfio_compat.reporter import plan
from tests import reporter_devices as rd

HOST = 'compute1.example.com'


def _traits(device):
    return rd.published_traits(device)


def _rc(device):
    return traits.resource_class(
        publication.stream_document(device).emits)


def _nova_parse_conf(tmp_path, text):
    path = tmp_path / 'nova.conf'
    path.write_text(text)
    conf = cfg.ConfigOpts()
    nova_devices_conf.register_opts(conf)
    conf.register_opt(cfg.MultiStrOpt('device_spec'), group='pci')
    conf([], default_config_files=[str(path)])
    nova_devices_conf.register_dynamic_opts(conf)
    return conf


def test_nova_conf_is_read_by_novas_options(tmp_path):
    gvt, vgpu, vf = rd.gvt(), rd.vgpu(), rd.vf()
    text, errors = generated_config.nova_conf([gvt, vgpu, vf, rd.broken()])
    assert len(errors) == 1 and rd.broken().address in errors[0]
    conf = _nova_parse_conf(tmp_path, text)
    assert sorted(conf.devices.enabled_mdev_types) == sorted(
        [gvt.mdev_type, vgpu.mdev_type])
    for device in (gvt, vgpu):
        group = conf['mdev_%s' % device.mdev_type]
        assert group.device_addresses == [device.address]
        assert group.mdev_class == _rc(device)
    (spec,) = [json.loads(s) for s in conf.pci.device_spec]
    assert spec['address'] == vf.address
    assert spec['resource_class'] == _rc(vf)
    assert set(spec['traits'].split(',')) == _traits(vf)


# Nova's own code, in a process of its own (nova.pci imports eventlet
# unless told not to, which must be decided before nova is imported), one
# for the module: it reads one JSON request a line and answers each with a
# line.  For {'specs', 'devices'}: the [pci] device_spec lines as
# nova-compute parses them (whitelist), each device's matching spec, and
# the PCI providers nova-compute builds from them at start
# (pci_placement_translator), or the exception that stops it.  For
# {'device_specs'}: each spec's traits and resource class as Nova's
# translator reports them.
_NOVA_PCI = """
import json, sys, types
from nova import exception
from nova.compute import pci_placement_translator as t
from nova.pci import devspec
from nova.pci import whitelist


def answer(given):
    if 'device_specs' in given:
        out = []
        for s in given['device_specs']:
            tags = devspec.PciDeviceSpec(s).get_tags()
            out.append([sorted(t._get_traits_for_dev(tags)),
                        tags['resource_class']])
        return out
    wl = whitelist.Whitelist([json.dumps(s) for s in given['specs']])
    out = {'tags': {}, 'start': 'ok'}
    providers = {}
    try:
        for d in given['devices']:
            dev = types.SimpleNamespace(card_serial_number=None, **d)
            spec = wl.get_devspec(dev)
            tags = dict(spec.get_tags()) if spec else None
            out['tags'][d['address']] = tags
            if tags is None or tags.get('physical_network'):
                continue
            rp = providers.setdefault(
                d['parent_addr'], t.PciResourceProvider(d['parent_addr']))
            rp.add_child(dev, tags)
    except exception.NovaException as e:
        out['start'] = type(e).__name__
    return out


for line in sys.stdin:
    print(json.dumps(answer(json.loads(line))), flush=True)
"""


@pytest.fixture(scope='module')
def nova(tmp_path_factory):
    """Ask Nova's process: ``nova(request)`` is its answer."""
    errors = tmp_path_factory.mktemp('nova-pci') / 'stderr'
    env = dict(os.environ, OS_NOVA_DISABLE_EVENTLET_PATCHING='1')
    with open(errors, 'w') as err:
        proc = subprocess.Popen([sys.executable, '-c', _NOVA_PCI], env=env,
                                stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=err,
                                text=True)

    def ask(request):
        proc.stdin.write(json.dumps(request) + '\n')
        proc.stdin.flush()
        line = proc.stdout.readline()
        assert line, 'Nova\'s process ended: %s' % errors.read_text()
        return json.loads(line)

    try:
        yield ask
    finally:
        proc.stdin.close()
        if proc.wait(timeout=60):
            pytest.fail('Nova\'s process failed: %s' % errors.read_text())


def test_device_specs_through_novas_pci_code(nova):
    specs, errors = generated_config.pci_device_specs([rd.vf(), rd.gvt()])
    assert errors == []
    ((nova_traits, rc),) = nova({'device_specs': specs})
    # Nova reports the live_migratable tag as a trait from 2026.2 (nova
    # 34) on; the older releases accept the tag without one.
    nova_major = int(importlib.metadata.version('nova').split('.')[0])
    migratable = {'HW_PCI_LIVE_MIGRATABLE'} if nova_major >= 34 else set()
    assert set(nova_traits) == _traits(rd.vf()) | {
        'COMPUTE_MANAGED_PCI_DEVICE'} | migratable
    assert rc == _rc(rd.vf())


def _nova_pci(nova, specs, devices):
    """What Nova makes of ``specs`` (dicts) for ``devices`` (VFs)."""
    return nova({'specs': specs, 'devices': [
        {'address': d.address, 'parent_addr': d.physfn,
         'vendor_id': '%04x' % d.pci_ids[0],
         'product_id': '%04x' % d.pci_ids[1]} for d in devices]})


def _plain_vf(address):
    """A VF of rd.vf()'s PF bound to plain vfio-pci (derived document)."""
    return dataclasses.replace(
        rd.vf(address), driver='vfio-pci',
        provenance=nvc_devices.SOURCE_DERIVED)


def test_vfs_of_one_pf_must_agree(nova):
    a = rd.vf('0000:81:00.2')
    b = rd.vf('0000:81:00.3', sample='mlx5-vf-fw28.43.yaml')
    c = rd.vf('0000:81:00.4')
    other_pf = dataclasses.replace(rd.vf('0000:82:00.2'),
                                   physfn='0000:82:00.0')
    specs, errors = generated_config.pci_device_specs([a, b, c, other_pf])
    # No VF of the mixed PF is configured: which one would win is not
    # for the order of the device list to decide.
    assert [s['address'] for s in specs] == [other_pf.address]
    (error,) = errors
    assert 'PF 0000:81:00.0' in error
    assert all(d.address in error for d in (a, b, c))
    assert _nova_pci(nova, specs, [a, b, c, other_pf])['start'] == 'ok'


def test_a_plain_vfio_pci_vf_never_mixes_with_a_variant_one(nova):
    # One VF bound to the variant driver, one to plain vfio-pci, on one
    # PF: one is live-migratable with traits, the other a class only.
    # Each path groups by PF, or nova-compute refuses to start.
    variant, plain = rd.vf('0000:81:00.2'), _plain_vf('0000:81:00.3')
    specs, errors = generated_config.pci_device_specs([variant, plain])
    assert specs == []
    (error,) = errors
    assert 'PF 0000:81:00.0' in error
    assert variant.address in error and plain.address in error
    assert _nova_pci(nova, specs, [variant, plain])['start'] == 'ok'


def test_nova_refuses_what_mixed_vfs_would_give_it(nova):
    # What nova-config must never print: the two specs above, each valid
    # alone, stop nova-compute at start.
    variant, plain = rd.vf('0000:81:00.2'), _plain_vf('0000:81:00.3')
    alone = (generated_config.pci_device_specs([variant])[0] +
             generated_config.pci_device_specs([plain])[0])
    assert _nova_pci(nova, alone, [variant, plain])['start'].startswith(
        'PlacementPciMixed')


PHYSNET = device_config.DeviceSpec(
    {'vendor_id': '15b3', 'product_id': '101e',
     'physical_network': 'physnet1'}, 'nova.conf: [pci] device_spec #1')


def test_neutron_ports_keep_their_physical_network(nova):
    vf = rd.vf()
    specs, errors = generated_config.pci_device_specs(
        [vf], existing_specs=(PHYSNET,))
    assert specs == []
    (error,) = errors
    assert vf.address in error and 'physnet1' in error
    # Merged before or after the existing entry, Nova still binds the
    # VF to Neutron's physical network.
    for merged in ([PHYSNET.tags] + specs, specs + [PHYSNET.tags]):
        tags = _nova_pci(nova, merged, [vf])['tags'][vf.address]
        assert tags['physical_network'] == 'physnet1'


def test_todays_spec_takes_a_neutron_port_from_its_physical_network(nova):
    # Without the existing entry, the spec printed for the VF wins when
    # merged first, and the VF loses its physical network.
    vf = rd.vf()
    specs, _ = generated_config.pci_device_specs([vf])
    tags = _nova_pci(nova, specs + [PHYSNET.tags], [vf])['tags'][vf.address]
    assert 'physical_network' not in tags


def test_specs_of_other_devices_are_not_neutron_ports(nova):
    vf = rd.vf()
    others = (
        device_config.DeviceSpec({'vendor_id': '8086', 'physical_network':
                                 'p'}, 'x'),
        device_config.DeviceSpec({'address': '0000:82:00.2',
                                 'physical_network': 'p'}, 'x'))
    specs, errors = generated_config.pci_device_specs(
        [vf], existing_specs=others)
    assert errors == [] and [s['address'] for s in specs] == [vf.address]
    tags = _nova_pci(nova, [o.tags for o in others] + specs,
                     [vf])['tags'][vf.address]
    assert 'physical_network' not in tags


def test_one_mdev_class_per_type():
    a = rd.vgpu('0000:3b:00.0')
    b = rd.vgpu('0000:3c:00.0', sample='nvidia-t4-grid17.4-222.json')
    other = dataclasses.replace(rd.vgpu('0000:3d:00.0'),
                                document=rd.doc('gvt-i915-v1.2-aggr3.yaml'))
    types, errors = generated_config.mdev_types([a, b, other])
    # two driver versions of one family share the class; another family
    # under the same type name cannot
    assert types == {a.mdev_type: ([a.address, b.address], _rc(a))}
    assert len(errors) == 1 and other.address in errors[0]


def test_provider_config_is_accepted_by_nova(tmp_path):
    gvt, vf = rd.gvt(), rd.vf()
    config, errors = generated_config.provider_config([gvt, vf], HOST)
    assert errors == []
    (tmp_path / 'vfio.yaml').write_text(
        generated_config.provider_config_yaml(config))
    parsed = nova_provider_config.get_provider_configs(str(tmp_path))
    root = parsed[generated_config.COMPUTE_NODE]
    assert set(root['traits']['additional']) == rd.root_traits(gvt, vf)
    parent = parsed[plan.mdev_parent_provider_name(HOST, gvt.address)]
    assert set(parent['traits']['additional']) == _traits(gvt)
    assert yaml.safe_load((tmp_path / 'vfio.yaml').read_text()) == config


def test_provider_config_skips_broken_devices():
    config, errors = generated_config.provider_config([rd.broken()], HOST)
    assert config['providers'] == []
    assert len(errors) == 1
