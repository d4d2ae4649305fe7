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

"""The whole system on a laptop: real Placement, reporter and filter logic.

1. start a real Placement (:mod:`.local_placement`) on a sqlite file;
2. lay out the simulated hosts of :mod:`.fleet` as nova-compute would
   (:mod:`.fake_compute`), the VFs' traits coming from the ``[pci]
   device_spec`` that ``nova-config`` generates;
3. run the real reporter (:class:`~nova_vfio_compat.reporter.sync.Reporter`)
   for each host, twice (the second sync must write nothing);
4. read the traits back from Placement and build the host-by-host matrix,
   with the rules' reasons for each "no";
5. for each example server, allocate its device on the source host as Nova
   does, ask Placement for allocation candidates as Nova's scheduler does,
   and run the real ``VFIOCompatFilter`` over Nova ``HostState`` objects
   (:mod:`.scheduler`: only the cell database look-up and Nova's
   Placement client are stood in for, as the demo runs no Nova services);
6. before a maintenance window: the ``drain`` pre-flight of one host (as
   it is, and as if another host's GPU driver were upgraded), the
   ``fleet`` map and the ``plan-upgrade`` of a rolling upgrade, through
   the same code as the commands.

:func:`run` returns plain data; :mod:`nova_vfio_compat.cmd.demo` prints it.
"""

import collections
import dataclasses
import time
from urllib import parse
import uuid

from nova_vfio_compat.cmd import maintenance as maintenance_cmd
from nova_vfio_compat.demo import fake_compute
from nova_vfio_compat.demo import fleet
from nova_vfio_compat.demo import local_placement
from nova_vfio_compat.demo import scheduler as demo_scheduler
from nova_vfio_compat.host import files
from nova_vfio_compat.model import devices as nvc_devices
from nova_vfio_compat.model import publication
from nova_vfio_compat.model import rules
from nova_vfio_compat.model import traits as nvc_traits
from nova_vfio_compat.placement import reader as placement_reader
from nova_vfio_compat.placement import sessions as placement_sessions
from nova_vfio_compat.planning import assume as nvc_assume
from nova_vfio_compat.planning import drain as nvc_drain
from nova_vfio_compat.planning import fleet as nvc_fleet
from nova_vfio_compat.planning import report
from nova_vfio_compat.planning_reads import placement_view
from nova_vfio_compat.reporter import generated_config
from nova_vfio_compat.reporter import plan as nvc_plan
from nova_vfio_compat.reporter import sync
from nova_vfio_compat import samples


def host_devices(spec):
    """The devices discovery would report for one simulated host.

    As :class:`publication.PublishedDevice` values, taken as they are
    (:func:`publication.as_published`): a GPU's stream typed with its mdev
    type, so the rules the demo shows are Nova's.
    """
    found = []
    for address, sample in spec['gpus']:
        doc = files.load_document(samples.path(sample))
        found.append(nvc_devices.Device(
            address=address, kind=nvc_devices.KIND_MDEV_TYPE,
            driver=doc.emits.vendor, document=doc,
            provenance='%s:%s' % (nvc_devices.SOURCE_FILE, sample),
            mdev_type=doc.emits.mdev_type))
    for address, pf, sample in spec['vfs']:
        doc = files.load_document(samples.path(sample))
        found.append(nvc_devices.Device(
            address=address, kind=nvc_devices.KIND_PCI,
            driver=doc.emits.vendor, document=doc, physfn=pf,
            provenance='%s:%s' % (nvc_devices.SOURCE_FILE, sample),
            # The simulated operator enabled each VF's migration (mlx5:
            # devlink "migratable", [discovery] migration_enabled).
            migration_enabled=True))
    return [publication.as_published(d) for d in found]


def _sample_of(published):
    """The sample file a simulated device's document came from."""
    return published.device.provenance.split(':', 1)[1]


def _pci_device_specs(host_devs):
    """``{PF: (resource class, traits, VF count)}`` Nova would apply.

    From the ``[pci] device_spec`` that ``nova-vfio-compat nova-config``
    generates, as nova-compute applies it to the PF's provider.
    """
    specs, errors = generated_config.pci_device_specs(host_devs)
    if errors:
        raise RuntimeError('; '.join(errors))
    physfn = {d.address: d.physfn for d in host_devs}
    pfs = {}
    for spec in specs:
        pf = physfn[spec['address']]
        count = pfs.get(pf, (None, None, 0))[2] + 1
        pfs[pf] = (spec['resource_class'], spec['traits'].split(','), count)
    return pfs


def _device_provider(host, device):
    if device.kind == nvc_devices.KIND_MDEV_TYPE:
        return nvc_plan.mdev_parent_provider_name(host, device.address)
    return fake_compute.pci_provider_name(host, device.physfn)


class Demo(object):

    def __init__(self, conn):
        self.conn = conn
        self.pl = conn.placement
        self.devices = {}        # host -> [Device]
        self.providers = {}      # provider name -> uuid
        self.by_uuid = {}
        self.host_of = {}        # provider uuid -> host
        self.device_at = {}      # provider name -> [Device]

    def build_fleet(self):
        for host, spec in sorted(fleet.HOSTS.items()):
            devs = host_devices(spec)
            self.devices[host] = devs
            made = fake_compute.lay_out_host(
                self.pl, host, [a for a, _ in spec['gpus']],
                _pci_device_specs(devs))
            self.providers.update(made)
            for name, rp in made.items():
                self.by_uuid[rp] = name
                self.host_of[rp] = host
            for device in devs:
                self.device_at.setdefault(
                    _device_provider(host, device), []).append(device)

    def report(self):
        first, second = {}, {}
        for host in sorted(self.devices):
            reporter = sync.Reporter(self.conn, host)
            first[host] = reporter.sync(self.devices[host])
            second[host] = reporter.sync(self.devices[host])
        return first, second

    def provider_traits(self):
        out = {}
        for name, rp in sorted(self.providers.items()):
            out[name] = sorted(self.pl.get_resource_provider_trait(rp).traits)
        return out

    def matrix(self, traits_by_provider):
        """Can a device on one host send its stream to each other host?

        Answered from the traits in Placement (a host accepts if one of
        its device providers does); the reasons come from the rules.
        """
        rows = []
        for host, devs in sorted(self.devices.items()):
            for device in devs:
                src_name = _device_provider(host, device)
                src_traits = traits_by_provider[src_name]
                row = {'host': host, 'device': device.address,
                       'stream': nvc_traits.emit_trait(device.document.emits),
                       'document': _sample_of(device),
                       'targets': {}}
                for other, other_devs in sorted(self.devices.items()):
                    if other == host:
                        continue
                    accepting = [
                        d for d in other_devs if nvc_traits.can_migrate(
                            src_traits,
                            traits_by_provider[_device_provider(other, d)])]
                    cell = {'compatible': bool(accepting), 'reasons': []}
                    if not accepting:
                        cell['reasons'] = self._why_not(device, other_devs)
                    rows_ok = [rules.check(device.document, d.document)
                               for d in accepting]
                    cell['create'] = next(
                        (v.create.to_dict() for v in rows_ok if v.create),
                        None)
                    row['targets'][other] = cell
                rows.append(row)
        return rows

    @staticmethod
    def _why_not(device, candidates):
        same_kind = [d for d in candidates
                     if rules.same_kind(device.document, d.document)]
        if not same_kind:
            return ['no device of this kind']
        reasons = []
        for d in same_kind:
            for reason in rules.check(device.document, d.document).reasons:
                reasons.append('%s: %s' % (d.address, reason))
        return reasons

    def migrate(self, server, source, address, kind):
        """Schedule a live migration of ``server`` away from ``source``."""
        consumer = str(uuid.uuid5(uuid.NAMESPACE_DNS, server))
        root = self.providers[source]
        allocation = {root: {'VCPU': 2, 'MEMORY_MB': 2048}}
        resources = {'': {'VCPU': 2, 'MEMORY_MB': 2048}}
        device = None
        if address is not None:
            device = next(d for d in self.devices[source]
                          if d.address == address)
            dev_rp = self.providers[_device_provider(source, device)]
            rc = 'VGPU' if kind == 'VGPU' else nvc_traits.resource_class(
                device.document.emits)
            allocation[dev_rp] = {rc: 1}
            resources['1'] = {rc: 1}
        fake_compute.allocate(self.pl, consumer, allocation)

        # What Nova's scheduler asks Placement before the filters run.
        query = {'group_policy': 'none', 'limit': '1000'}
        for suffix, res in resources.items():
            query['resources%s' % suffix] = ','.join(
                '%s:%d' % item for item in sorted(res.items()))
        response = self.pl.get('/allocation_candidates?%s'
                               % parse.urlencode(query), microversion='1.36')
        per_host = collections.defaultdict(list)
        for candidate in response.json()['allocation_requests']:
            for rp in candidate['allocations']:
                if rp in self.host_of and self.by_uuid[rp] == \
                        self.host_of[rp]:
                    per_host[rp].append(candidate)
        per_host.pop(root, None)      # the conductor ignores the source

        # The conductor has moved the server's allocation to the
        # migration's consumer: here it was made under that consumer.
        calls = _CallCounter(self.pl)
        hosts = demo_scheduler.schedule(
            consumer, source, root, calls.get, per_host,
            {rp: self.by_uuid[rp] for rp in per_host})
        results = {}
        for host, result in sorted(hosts.items()):
            kept = result.pop('kept')
            result['kept'] = len(kept)
            if result['passes'] and device is not None:
                claim = kept[0]['allocations']
                dest_rp = next(rp for rp in claim
                               if rp != self.providers[host])
                dest_name = self.by_uuid[dest_rp]
                result['claim'] = dest_name
                dest_dev = self.device_at[dest_name][0]
                create = rules.check(device.document, dest_dev.document)
                result['create'] = (create.create.to_dict()
                                    if create.create else None)
            results[host] = result
        streams = []
        if device is not None:
            streams = sorted(nvc_traits.emitted(
                self.pl.get_resource_provider_trait(dev_rp).traits))
        self.pl.delete('/allocations/%s' % consumer)
        return {'server': server, 'source': source, 'device': address,
                'streams': streams, 'hosts': results,
                'placement_calls': calls.count}

    def _device_allocation(self, host, address, amount):
        device = next(d for d in self.devices[host] if d.address == address)
        rp = self.providers[_device_provider(host, device)]
        rc = ('VGPU' if device.kind == nvc_devices.KIND_MDEV_TYPE else
              nvc_traits.resource_class(device.document.emits))
        return {rp: {rc: amount}}

    def maintenance(self):
        """The drain pre-flight of fleet.DRAIN_HOST, and the fleet map.

        The servers of :data:`fleet.DRAIN_SERVERS` are allocated for the
        occasion and removed afterwards; the planning reads go through the
        same call counter as the filter's.
        """
        consumers = {}
        for server, host, address, amount in fleet.DRAIN_SERVERS:
            consumer = str(uuid.uuid5(uuid.NAMESPACE_DNS, server))
            fake_compute.allocate(self.pl, consumer, self._device_allocation(
                host, address, amount))
            consumers[consumer] = server
        host, sample = fleet.DRAIN_ASSUME
        document = files.load_document(samples.path(sample))
        # named as the command line would name it, not by where the
        # package happens to be installed
        assumption = nvc_assume.Assumption(host, dataclasses.replace(
            document, source=sample))
        try:
            out = {}
            for key, assumed in (('drain', ()),
                                 ('drain_assumed', (assumption,))):
                calls = _CallCounter(self.pl)
                view = placement_view.PlacementView(calls.get)
                inputs = placement_view.read_drain(view, fleet.DRAIN_HOST,
                                                   assumed)
                servers = [nvc_drain.Server(s.consumer, s.devices,
                                            consumers.get(s.consumer))
                           for s in inputs.servers]
                plan, stranded = nvc_drain.plan_and_explain(
                    servers, inputs.options, inputs.free, inputs.acceptors,
                    inputs.names)
                out[key] = report.drain(inputs, servers, plan, stranded,
                                        consumers, assumed)
                out[key]['placement_calls'] = calls.count
            view = placement_view.PlacementView(_CallCounter(self.pl).get)
            out['fleet'] = report.fleet(nvc_fleet.build(
                placement_view.read_fleet(view)))
            calls = _CallCounter(self.pl)
            out['upgrade'] = maintenance_cmd.plan_upgrade(
                placement_view.PlacementView(calls.get), targets=[
                    dataclasses.replace(files.load_document(
                        samples.path(sample)), source=sample)
                    for sample in fleet.UPGRADE_TARGETS],
                lookup=lambda inputs: (consumers, {}))
            out['upgrade']['placement_calls'] = calls.count
        finally:
            for consumer in consumers:
                self.pl.delete('/allocations/%s' % consumer)
        return out


class _CallCounter(object):
    """Counts the Placement calls of one scheduling request."""

    def __init__(self, placement):
        self.placement = placement
        self.count = 0

    def get(self, url, microversion):
        self.count += 1
        return placement_reader.Reader.over_responses(
            lambda u, mv: self.placement.get(u, microversion=mv),
            placement_sessions.CLIENT_ERRORS)(url, microversion)


def run(progress=None):
    """Run the demo; returns everything it found as plain data.

    :param progress: called with a line of text as each step starts, so
        that a person sees the demo advance (it takes seconds to half a
        minute); nothing by default.
    """
    say = progress or (lambda text: None)
    started = time.monotonic()
    say('Starting a real Placement on a temporary sqlite database...')
    with local_placement.LocalPlacement() as placement:
        demo = Demo(placement.sdk)
        say('Placement answers at %s; laying out %d simulated compute '
            'hosts as nova-compute would...' % (placement.endpoint,
                                                len(fleet.HOSTS)))
        demo.build_fleet()
        say('Publishing their devices with the reporter (two syncs per '
            'host)...')
        first, second = demo.report()
        traits_by_provider = demo.provider_traits()
        say('Checking every device against every host...')
        matrix = demo.matrix(traits_by_provider)
        migrations = []
        for server in fleet.SERVERS:
            say('Choosing live-migration targets for %s with the real '
                'filter...' % server[0])
            migrations.append(demo.migrate(*server))
        say('Drain pre-flight and fleet map...')
        out = {
            'placement': placement.endpoint,
            'hosts': {host: [{'address': d.address, 'kind': d.kind,
                              'mdev_type': d.mdev_type,
                              'document': _sample_of(d),
                              'stream': nvc_traits.emit_trait(
                                  d.document.emits)}
                             for d in devs]
                      for host, devs in sorted(demo.devices.items())},
            'providers': traits_by_provider,
            'sync': {host: {'first_writes': first[host].writes,
                            'second_writes': second[host].writes,
                            'errors': first[host].errors}
                     for host in sorted(first)},
            'matrix': matrix,
            'migrations': migrations,
            'maintenance': demo.maintenance(),
        }
        say('Stopping Placement...')
    out['seconds'] = round(time.monotonic() - started, 2)
    return out
