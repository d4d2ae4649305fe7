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

"""``devices``, ``nova-config`` and ``provider-config`` on emulated hosts
whose GPUs offer several mdev types, with a plain vfio-pci function,
given (or not) nova-compute's configuration."""

import json
import os
import subprocess
import sys

import yaml

from nova_vfio_compat.cmd import cli
from nova_vfio_compat.reporter import plan

GVT = '0000:00:02.0'          # i915-GVTg_V5_2, _V5_4, _V5_8; no mdevs
T4 = '0000:3b:00.0'           # nvidia-222 (one mdev exists), nvidia-230
PLAIN = '0000:b1:00.1'        # an NVMe VF on plain vfio-pci
VARIANT = '0000:b1:00.2'      # the other VF, on a variant driver
NOVA_CONF = ('[devices]\n'
             'enabled_mdev_types = nvidia-230, i915-GVTg_V5_4\n'
             '[mdev_i915-GVTg_V5_4]\n'
             'device_addresses = %s\n' % GVT)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def _host(bed):
    bed.load('intel-gvtg', 'nvidia-t4-vgpu', 'nvme-vf')
    bed.module_version('nvidia', '550.54.14')


def _run(tmp_path, caps, capsys, *args, nova=NOVA_CONF):
    config = tmp_path / 'nova-vfio-compat.conf'
    config.write_text('[discovery]\ncapability_dirs = %s\n' % caps)
    argv = ['--config-file', str(config)] + list(args)
    if nova is not None:
        path = tmp_path / 'nova.conf'
        path.write_text(nova)
        argv += ['--nova-config', str(path)]
    status = cli.main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def _items(out):
    return {(i['address'], i['mdev_type']): i for i in json.loads(out)}


def test_devices_shows_what_nova_uses(bed, tmp_path, caps, capsys):
    _host(bed)
    status, out, err = _run(tmp_path, caps, capsys, 'devices', '--json')
    assert status == 0, err
    items = _items(out)
    published = sorted(k for k, i in items.items() if i['published'])
    # nvmevf_migr is a variant driver, but not a known VFIO migration
    # driver: not live-migratable.
    assert published == [(GVT, 'i915-GVTg_V5_4'), (T4, 'nvidia-230')]
    v58 = items[(GVT, 'i915-GVTg_V5_8')]
    assert v58['not_published'] == (
        'not enabled: Nova uses mdev type i915-GVTg_V5_4 on this GPU '
        '([mdev_i915-GVTg_V5_4] device_addresses lists it)')
    assert v58['published_traits'] == [] and v58['traits']
    t1b = items[(T4, 'nvidia-222')]
    assert 'Nova uses mdev type nvidia-230' in t1b['not_published']
    assert 'default of every GPU not listed' in t1b['not_published']
    plain = items[(PLAIN, None)]
    assert plain['not_published'].startswith('not live-migratable')
    assert 'not a known VFIO migration driver' in items[
        (VARIANT, None)]['not_published']


def test_devices_without_nova_config_uses_the_fallback_rule(
        bed, tmp_path, caps, capsys):
    _host(bed)
    status, out, err = _run(tmp_path, caps, capsys, 'devices', '--json',
                            nova=None)
    assert status == 0, err
    assert 'no Nova device configuration was given' in err
    items = _items(out)
    published = sorted(k for k, i in items.items() if i['published'])
    # The T4's existing mdev says nvidia-222; the GVT-g GPU has three
    # types and no mdevs: nothing.
    assert published == [(T4, 'nvidia-222')]
    assert 'several mdev types' in items[(GVT, 'i915-GVTg_V5_2')][
        'not_published']


def _nova_check(path):
    """Nova's loader and libvirt mdev check on ``path``.

    In a process of its own: nova's driver module decides on eventlet
    when it is imported.
    """
    code = ('import json, sys\n'
            'from nova import monkey_patch\n'
            'monkey_patch.patch()\n'
            'from tests.nova import test_nova_rules as r\n'
            'answer = r.nova_answer(sys.argv[1], r.GPUS + sys.argv[2:])\n'
            'if isinstance(answer, Exception):\n'
            '    print(json.dumps({"error": str(answer)}))\n'
            'else:\n'
            '    print(json.dumps({"types": answer[1]}))\n')
    env = dict(os.environ, OS_NOVA_DISABLE_EVENTLET_PATCHING='1',
               PYTHONPATH=ROOT)
    env.pop('LD_PRELOAD', None)
    done = subprocess.run([sys.executable, '-c', code, path, GVT, T4],
                          env=env, capture_output=True, text=True,
                          check=True, cwd=ROOT)
    return json.loads(done.stdout.splitlines()[-1])


def test_nova_config_one_type_per_gpu_accepted_by_nova(bed, tmp_path, caps,
                                                       capsys):
    _host(bed)
    status, out, err = _run(tmp_path, caps, capsys, 'nova-config',
                            '--mdev-type', '%s=i915-GVTg_V5_8' % GVT,
                            nova=None)
    # The two VFs of the NVMe PF differ in class: Nova would not start
    # with both, so neither is configured, and the PF is named.
    assert status == 2, err
    assert 'PF ' in err and PLAIN in err and VARIANT in err
    proposed = tmp_path / 'proposed.conf'
    proposed.write_text(out)
    answer = _nova_check(str(proposed))
    assert answer == {'types': {**answer['types'],
                                GVT: 'i915-GVTg_V5_8',
                                T4: 'nvidia-222'}}, answer
    specs = [json.loads(line.split(' = ', 1)[1]) for line in
             out.splitlines() if line.startswith('device_spec = ')]
    assert not {PLAIN, VARIANT} & {s['address'] for s in specs}


def test_nova_config_json_and_a_gpu_left_to_choose(bed, tmp_path, caps,
                                                   capsys):
    _host(bed)
    status, out, err = _run(tmp_path, caps, capsys, 'nova-config',
                            '--json', nova=None)
    assert status == 2
    data = json.loads(out)
    assert data['mdev_types'][T4]['mdev_type'] == 'nvidia-222'
    assert data['mdev_types'][GVT]['mdev_type'] is None
    assert 'GPU %s: no mdev type configured' % GVT in err
    assert '--mdev-type %s=TYPE' % GVT in err
    assert data['config']['mdev_nvidia-222']['device_addresses'] == [T4]
    assert data['config']['devices'] == {
        'enabled_mdev_types': ['nvidia-222']}


def test_nova_config_follows_novas_configuration(bed, tmp_path, caps,
                                                 capsys):
    _host(bed)
    status, out, err = _run(tmp_path, caps, capsys, 'nova-config')
    assert status == 2 and 'PF ' in err, err  # the NVMe PF's mixed VFs
    proposed = tmp_path / 'proposed.conf'
    proposed.write_text(out)
    types = _nova_check(str(proposed))['types']
    assert (types[GVT], types[T4]) == ('i915-GVTg_V5_4', 'nvidia-230')


def test_provider_config_only_the_used_types(bed, tmp_path, caps, capsys):
    _host(bed)
    status, out, err = _run(tmp_path, caps, capsys, 'provider-config',
                            '--nodename', 'cmp1')
    assert status == 0, err
    data = yaml.safe_load(out)
    by_name = {p['identification'].get('name'): p['traits']['additional']
               for p in data['providers']}
    status, devices_out, _ = _run(tmp_path, caps, capsys, 'devices',
                                  '--json')
    items = _items(devices_out)
    assert by_name[plan.mdev_parent_provider_name('cmp1', GVT)] == \
        items[(GVT, 'i915-GVTg_V5_4')]['published_traits']
    assert by_name[plan.mdev_parent_provider_name('cmp1', T4)] == \
        items[(T4, 'nvidia-230')]['published_traits']
    # No PCI device of the host is published (plain vfio-pci cannot
    # migrate) and the GPUs' traits are on their own providers: the
    # compute node gets no entry, and the unused type is nowhere.
    assert None not in by_name
    everywhere = set().union(*by_name.values())
    assert not everywhere & set(items[(PLAIN, None)]['traits'])
    assert not everywhere & set(items[(GVT, 'i915-GVTg_V5_8')]['traits'])
