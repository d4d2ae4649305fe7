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

"""The docs' example commands that read this host's devices through udev
(``devices``, ``nova-config``), run as written on an emulated host: an
NVIDIA vGPU and mlx5 VFs, with a capability file for the VFs.

The rest of the docs' examples run in tests/docs/test_doc_commands.py,
which checks that this module runs exactly the ones it leaves here.
"""

import contextlib
import io
import json

import pytest

from nova_vfio_compat.cmd import cli
from tests.docs import doc_commands
from tests.udev import test_cli_devices

RUN_THERE = [e for e in doc_commands.examples()
             if not doc_commands.is_synopsis(e)
             and doc_commands.runs_under_udev(e)]


def _id(example):
    return '%s:%d' % (example.page, example.line)


@pytest.mark.parametrize('example', RUN_THERE, ids=_id)
def test_example_runs_on_a_host_with_devices(example, bed, tmp_path, caps,
                                             monkeypatch):
    bed.load('mlx5-sriov', 'nvidia-t4-vgpu')
    bed.module_version('nvidia', '550.54.14')
    (caps / '50-mlx5.yaml').write_text(test_cli_devices.MLX5_FILE)
    # The pages' commands read /etc/nova-vfio-compat/nova-vfio-compat.conf
    # and Nova's /etc/nova/nova.conf; here, the same options from files of
    # the test, named the way the pages say they may be (--config-file).
    config = tmp_path / 'nova-vfio-compat.conf'
    nova_conf = tmp_path / 'nova.conf'
    nova_conf.write_text('[devices]\nenabled_mdev_types = nvidia-222\n')
    config.write_text('[discovery]\ncapability_dirs = %s\n'
                      '[nova]\nconfig_files = %s\nconfig_dirs =\n'
                      % (caps, nova_conf))
    monkeypatch.chdir(tmp_path)
    argv = ['--config-file', str(config)] + list(example.argv[1:])
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(argv)
    where = '%s (exit %s)\n%s%s' % (_id(example), status, out.getvalue(),
                                    err.getvalue())
    assert status == 0, where
    assert 'Traceback' not in err.getvalue(), where
    text = out.getvalue()
    command = doc_commands.command_of(example)
    if command == 'devices' and '--json' in example.argv:
        found = {(d['address'], d['mdev_type']) for d in json.loads(text)}
        assert ('0000:3b:00.0', 'nvidia-222') in found, where
        assert ('0000:5e:00.2', None) in found, where
    elif command == 'devices':
        assert '0000:3b:00.0' in text and '0000:5e:00.2' in text, where
    else:   # nova-config: the GPU's type as Nova uses it, the VFs' specs
        assert '[mdev_nvidia-222]\ndevice_addresses = 0000:3b:00.0' in text
        assert 'device_spec = {"address": "0000:5e:00.2"' in text, where
