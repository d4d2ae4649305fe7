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

"""The orders hosts are upgraded in: the waves of the simulation.

* :func:`naive_waves`: host-name order;
* :func:`preflight_waves`: the project's pre-flight order,
  :func:`nova_vfio_compat.planning.order.upgrade_order`;
* :func:`drain_waves`: the previous pre-flight order (drain plans first),
  kept to compare with.

A list of waves, or a function of the fleet (as upgraded so far) that
returns the next wave, or None when done.
"""

import collections
import dataclasses

from benchmarks import upgrade_fleet as fleet_lib
from nova_vfio_compat.model import devices as nvc_devices
from nova_vfio_compat.model import publication
from nova_vfio_compat.model import traits as nvc_traits
from nova_vfio_compat.planning import compatibility
from nova_vfio_compat.planning import drain as nvc_drain
from nova_vfio_compat.planning import forced as nvc_forced
from nova_vfio_compat.planning import order as nvc_order

VGPU, VF = fleet_lib.VGPU, fleet_lib.VF


def naive_waves(fleet, wave_size):
    """Hosts in name order, ``wave_size`` at a time."""
    names = sorted(fleet.hosts)
    return [names[i:i + wave_size] for i in range(0, len(names), wave_size)]


_traits_cache = {}


def _device_traits(host):
    """``{device: traits}`` as the reporter publishes them, by branch.

    The planning commands read these from Placement; here they are
    computed by the same code (cached per branch: hosts alike share them).
    """
    key = host.signature
    if key not in _traits_cache:
        published = publication.decide(
            host.devices(), mdev_config=host.nova_mdev_config()).published
        gpu = next(d for d in published
                   if d.kind == nvc_devices.KIND_MDEV_TYPE)
        vf = next(d for d in published if d.kind == nvc_devices.KIND_PCI)
        _traits_cache[key] = {VGPU: gpu.traits, VF: vf.traits}
    return _traits_cache[key]


def _assumed(host):
    """The host as its upgrade will leave it (``--assume``)."""
    after = dataclasses.replace(host)
    after.upgrade()
    return after


def order_view(fleet):
    """The pre-flight's input, from the fleet as it is now.

    The providers of every host as published, as assumed after their
    upgrade, and what each server holds.

    :returns: ``(providers, assumed, servers)`` for
        :func:`nova_vfio_compat.planning.order.upgrade_order`.
    """
    providers, assumed = [], {}
    for host in fleet.hosts.values():
        now = _device_traits(host)
        after = _device_traits(_assumed(host)) if not host.upgraded else now
        for kind in (VGPU, VF):
            uuid = '%s/%s' % (host.name, kind)
            providers.append(compatibility.Provider(uuid, uuid, host.name,
                                                    now[kind]))
            if not host.upgraded:
                assumed[uuid] = after[kind]
    servers = collections.defaultdict(list)
    for s in fleet.servers:
        servers[s.host].append(held(s))
    return providers, assumed, dict(servers)


def held(server):
    """The providers of :func:`order_view` ``server`` holds devices of."""
    return tuple('%s/%s' % (server.host, kind) for kind in (VGPU, VF)
                 if (kind == VGPU and server.gpu is not None) or (
                     kind == VF and server.vf))


def forced_downtime(fleet, bound=None):
    """The servers no order of the upgrade keeps running: the bound.

    ``bound(providers, assumed, servers)`` is the planning package's
    lower bound (by default
    :func:`nova_vfio_compat.planning.forced.forced`), over the providers
    of :func:`order_view` and every server's devices.

    :returns: ``{server name: why}``.
    """
    bound = bound or nvc_forced.forced
    providers, assumed, _ = order_view(fleet)
    found = bound(providers, assumed, {s.name: held(s)
                                       for s in fleet.servers})
    return {name: getattr(why, 'reason', why)
            for name, why in found.items()}


def preflight_waves(wave_size):
    """The next wave as the project's pre-flight orders it.

    :func:`nova_vfio_compat.planning.order.upgrade_order` over the trait
    sets the reporter publishes now and the traits each host not upgraded
    yet will publish after its upgrade (``--assume``), among the hosts not
    tried yet; :func:`nova_vfio_compat.planning.order.spread_wave` takes
    ``wave_size`` of them, the kinds of hosts mixed.
    """
    tried = set()

    def next_wave(fleet):
        left = [h for h in fleet.hosts
                if not fleet.hosts[h].upgraded and h not in tried]
        if not left:
            return None
        providers, assumed, servers = order_view(fleet)
        ranked = nvc_order.upgrade_order(providers, assumed, servers,
                                         candidates=left)
        wave = nvc_order.spread_wave(providers, ranked, wave_size)
        tried.update(wave)
        return wave
    return next_wave


def drain_waves(wave_size):
    """The previous pre-flight order, kept to compare with.

    Among the hosts not upgraded yet, the ones whose servers all have a
    destination in :func:`nova_vfio_compat.planning.drain.plan` (the rest
    of the wave excluded) go first, in name order; then the others.
    """
    tried = set()

    def next_wave(fleet):
        left = [h for h in sorted(fleet.hosts)
                if not fleet.hosts[h].upgraded and h not in tried]
        if not left:
            return None
        used = fleet.used()
        on_host = fleet.by_host()
        wave = []
        for name in left:
            if len(wave) == wave_size:
                break
            if _drain_plan_complete(fleet, used, on_host, name, wave):
                wave.append(name)
        for name in left:
            if len(wave) == wave_size:
                break
            if name not in wave:
                wave.append(name)
        tried.update(wave)
        return wave
    return next_wave


def _drain_plan_complete(fleet, used, on_host, name, wave):
    """Do all the servers of ``name`` have a destination in a drain plan?

    The rest of the wave and the disabled hosts are excluded, the
    capacity is that free now.  A
    host's vGPUs are counted as one pool (a server may take either
    GPU); hosts alike are tested for compatibility once.
    """
    host = fleet.hosts[name]
    servers = on_host.get(name, ())
    if not servers:
        return True
    excluded = set(wave) | {name} | fleet.disabled
    mine = _device_traits(host)
    streams = {kind: nvc_traits.emitted(mine[kind]) for kind in (VGPU, VF)}
    accepts = {}
    free = {}
    for other in fleet.hosts.values():
        if other.name in excluded:
            continue
        free[('%s/%s' % (other.name, VGPU), VGPU)] = sum(
            fleet_lib.VGPUS_PER_GPU - used[(other.name, g)]
            for g in range(fleet_lib.GPUS_PER_HOST))
        free[('%s/%s' % (other.name, VF), VF)] = (
            fleet_lib.VFS_PER_HOST - used[(other.name, VF)])
        if other.signature not in accepts:
            theirs = _device_traits(other)
            accepts[other.signature] = {
                kind: compatibility.accepts(theirs[kind], streams[kind])
                for kind in (VGPU, VF)}
    plan_servers, options = [], {}
    for s in servers:
        kinds = [k for k, held in ((VGPU, s.gpu is not None), (VF, s.vf))
                 if held]
        server = nvc_drain.Server(s.name, tuple(
            nvc_drain.Device('%s/%s' % (name, k), None, ((k, 1),),
                             streams[k]) for k in kinds))
        plan_servers.append(server)
        options[s.name] = [
            nvc_drain.Option(other.name, tuple(
                '%s/%s' % (other.name, k) for k in kinds))
            for other in fleet.hosts.values()
            if other.name not in excluded and all(
                accepts[other.signature][k] for k in kinds) and all(
                free[('%s/%s' % (other.name, k), k)] > 0 for k in kinds)]
    return nvc_drain.plan(plan_servers, options, free).complete
