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

"""The hotplug signal: udev events on the (emulated) netlink socket reach
the monitor and, once settled, say that discovery should run again."""

import time

from nova_vfio_compat.host import discovery

NEW_VF = '''P: /devices/pci0000:5d/0000:5d:02.0/0000:5e:00.4
E: DRIVER=vfio-pci
E: PCI_ID=15B3:101E
E: SUBSYSTEM=pci
A: vendor=0x15b3
A: device=0x101e
A: subsystem_vendor=0x15b3
A: subsystem_device=0x0016
A: class=0x020000
L: driver=../../../../bus/pci/drivers/vfio-pci
L: physfn=../0000:5e:00.0
L: iommu_group=../../../../kernel/iommu_groups/63
'''
NEW_VF_PATH = '/sys/devices/pci0000:5d/0000:5d:02.0/0000:5e:00.4'


def names(conf, bed):
    return [d.name for d in discovery.discover(conf, bed.context())]


def test_add_and_remove_reach_the_monitor_and_change_the_set(bed, conf):
    bed.load('mlx5-sriov')
    # The monitor must be created after the test bed exists.
    signal = discovery.monitor(conf, bed.context())
    try:
        assert names(conf, bed) == ['0000:5e:00.2', '0000:5e:00.3']
        assert signal.wait(0.2) is False

        bed.testbed.add_from_string(NEW_VF)
        assert signal.wait(5) is True
        assert names(conf, bed) == [
            '0000:5e:00.2', '0000:5e:00.3', '0000:5e:00.4']
        # The change was consumed.
        assert signal.wait(0.2) is False

        bed.testbed.uevent(NEW_VF_PATH, 'remove')
        bed.testbed.remove_device(NEW_VF_PATH)
        assert signal.wait(5) is True
        assert names(conf, bed) == ['0000:5e:00.2', '0000:5e:00.3']
    finally:
        signal.close()


def test_events_not_yet_waited_for_are_one_change(bed, conf):
    # The monitor does not debounce (the service does, [reporter]
    # debounce); it reports every event that arrived since the last
    # wait() as one change.
    bed.load('mlx5-sriov')
    signal = discovery.monitor(conf, bed.context())
    try:
        vf = '/sys/devices/pci0000:5d/0000:5d:02.0/0000:5e:00.3'
        for action in ('unbind', 'change', 'bind'):
            bed.testbed.uevent(vf, action)
        deadline = time.monotonic() + 5
        while signal.events < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert signal.events == 3
        # Reported at once, not once they settle.
        assert signal.wait(0) is True
        assert signal.wait(0.5) is False
    finally:
        signal.close()


def test_events_of_other_subsystems_are_not_a_change(bed, conf):
    signal = discovery.monitor(conf, bed.context())
    try:
        bed.testbed.add_from_string(
            'P: /devices/virtual/block/loop7\nE: SUBSYSTEM=block\n'
            'E: DEVNAME=/dev/loop7\nA: size=0\n')
        assert signal.wait(0.5) is False
        assert signal.events == 0
    finally:
        signal.close()


def test_close_stops_the_listener(bed, conf):
    signal = discovery.monitor(conf, bed.context())
    signal.close()
    assert not signal._observer.is_alive()


def test_the_reporter_gets_devices_and_the_signal_from_discovery(bed, conf):
    from nova_vfio_compat.host import published_devices

    bed.load('qat-vf')
    source, signal = published_devices.device_source(conf)
    try:
        assert [d.name for d in source()] == ['0000:6b:00.1']
        bed.load('nvme-vf')
        assert signal.wait(5) is True
        assert [d.name for d in source()] == [
            '0000:6b:00.1', '0000:b1:00.1', '0000:b1:00.2']
    finally:
        signal.close()
