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

"""Where the reporter and the config commands get the host's devices."""

from nova_vfio_compat.reporter import device_list


class NoDeviceSource(ValueError):
    """Neither a device list nor discovery is available."""


def device_source(conf, device_list_path=None):
    """``(callable returning the devices, change signal or None)``.

    ``device_list_path`` (or ``[reporter] device_list``) names a static
    device list; otherwise udev discovery is used, with its hotplug monitor
    as the change signal when it has one.
    """
    path = device_list_path or conf.reporter.device_list
    if path:
        return (lambda: device_list.load(path)), None
    try:
        # Imported here: discovery needs libudev, which the rest of the
        # reporter (and hosts with a device list) do not.
        from nova_vfio_compat import discovery
    except ImportError as e:
        raise NoDeviceSource(
            'udev discovery is not available (%s); set [reporter] '
            'device_list' % e)
    monitor = getattr(discovery, 'monitor', None)
    change_signal = monitor(conf) if monitor is not None else None
    return (lambda: discovery.discover(conf)), change_signal
