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

"""Test beds for the udev tests: real libudev on umockdev device trees.

These tests need umockdev's LD_PRELOAD from the start of the process, so
they run in their own pytest process::

    umockdev-wrapper python -m pytest tests/udev

Without the preload every test here is skipped.  Each test gets a fresh
``UMockdev.Testbed`` (through PyGObject) and loads the trees it needs from
``trees/``; files outside ``/sys/devices`` (``/sys/module/<drv>/version``)
are written into the test bed's sys directory.

A tree is ``trees/<name>.umockdev``, in the format ``umockdev-record``
writes and ``umockdev-run -d`` loads (which allows no comments), and what
it emulates is described in ``trees/<name>.txt`` beside it.
"""

import gc
import os
import pathlib

from oslo_config import cfg
import pytest

from nova_vfio_compat import conf as nvc_conf

TREES = pathlib.Path(__file__).parent / 'trees'
PRELOADED = 'umockdev' in os.environ.get('LD_PRELOAD', '')


def tree_names():
    """The names of every tree under ``trees/``, sorted."""
    return sorted(path.stem for path in TREES.glob('*.umockdev'))


def pytest_collection_modifyitems(config, items):
    if PRELOADED:
        return
    skip = pytest.mark.skip(
        reason='needs the umockdev preload: run under umockdev-wrapper')
    for item in items:
        if pathlib.Path(str(item.fspath)).is_relative_to(
                pathlib.Path(__file__).parent):
            item.add_marker(skip)


class Bed:
    """A umockdev test bed with the helpers the tests use."""

    def __init__(self, testbed):
        self.testbed = testbed
        self.sys_dir = testbed.get_sys_dir()

    def load(self, *names):
        """Add the devices of ``trees/<name>.umockdev``.

        Each device sends its ``add`` uevent.
        """
        for name in names:
            self.testbed.add_from_string(
                (TREES / ('%s.umockdev' % name)).read_text())

    def module_version(self, module, version):
        """Create ``/sys/module/<module>/version``."""
        path = os.path.join(self.sys_dir, 'module', module)
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, 'version'), 'w') as f:
            f.write(version + '\n')

    def context(self):
        import pyudev
        return pyudev.Context()


@pytest.fixture
def bed():
    gi = pytest.importorskip('gi')
    gi.require_version('UMockdev', '1.0')
    from gi.repository import UMockdev

    testbed = UMockdev.Testbed.new()
    yield Bed(testbed)
    # Freeing the test bed removes its directory and unsets UMOCKDEV_DIR,
    # so that the next test starts from an empty tree.
    del testbed
    gc.collect()


@pytest.fixture
def caps(tmp_path):
    """The (empty) capability file directory ``conf`` uses."""
    path = tmp_path / 'caps'
    path.mkdir()
    return path


@pytest.fixture
def conf(caps):
    """A ConfigOpts with every group, reading capability files from caps."""
    c = cfg.ConfigOpts()
    nvc_conf.register_all(c)
    c([], project='nova-vfio-compat', default_config_files=[])
    c.set_override('capability_dirs', [str(caps)], group='discovery')
    yield c
    c.reset()
