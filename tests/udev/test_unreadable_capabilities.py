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

"""A capability directory that cannot be read: the reporter keeps what it
published (its devices would otherwise fall back to other documents)."""

import os
import shutil

import pytest

from nova_vfio_compat.host import discovery
from nova_vfio_compat.host import published_devices
from nova_vfio_compat.model import traits
from nova_vfio_compat.reporter import service
from nova_vfio_compat.reporter import sync
from nova_vfio_compat import samples
from tests.functional.reporter import conftest as c
from tests.functional.reporter.conftest import placement  # noqa: F401


def _owned(conn, name):
    return frozenset(n for n in c.traits_of(conn, name)
                     if traits.is_owned(n))


def test_an_unreadable_capability_dir_keeps_what_was_published(
        bed, conf, caps, placement):  # noqa: F811
    bed.load('mlx5-sriov')
    bed.module_version('mlx5_vfio_pci', '6.1.0-test')
    # The VFs' devlink "migratable" is on: they are published.
    conf.set_override('migration_enabled', ['*'], group='discovery')
    with open(samples.path('mlx5-vf-fw28.43.yaml')) as f:
        document = f.read()
    (caps / '50-vendor.yaml').write_text(
        'capabilities:\n  - match: {driver: mlx5_vfio_pci}\n'
        '    document:\n' + ''.join('      %s\n' % line
                                    for line in document.splitlines()))
    conn = placement.conn
    c.nova_layout(conn)
    source, _signal = published_devices.published_source(conf)
    svc = service.Service(sync.Reporter(conn, c.HOST), source)
    assert svc.sync_once() is True
    published = _owned(conn, c.HOST)
    assert published

    # The directory becomes a file: it cannot be listed.
    shutil.rmtree(caps)
    caps.write_text('')
    # Discovery alone reports it and falls back to other documents ...
    assert any(str(caps) in e for e in discovery.scan(conf).unreadable)
    # ... the reporter publishes nothing from that pass.
    with pytest.raises(published_devices.InputUnavailable, match=str(caps)):
        source()
    placement.app.reset()
    assert svc.sync_once() is False
    assert placement.app.writes() == []
    assert _owned(conn, c.HOST) == published
    assert os.path.isfile(caps)
