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

"""The planning results as plain data: what ``--json`` prints and what the
demo returns.  Pure: no I/O."""

from nova_vfio_compat.planning import drain as nvc_drain
from nova_vfio_compat.planning import upgrade as nvc_upgrade


def assumptions(values):
    return [{'host': a.host, 'document': a.document.source,
             'family': a.family} for a in values]


def drain(inputs, servers, plan, stranded, names, assumed=(), hosts=None):
    """The drain of ``inputs.host`` as plain data.

    Hosts are named by their compute service host (what ``openstack
    server migrate --live-migration --host`` takes) when ``hosts`` has
    it, else by the compute node name Placement has; ``node`` is always
    the latter.

    :param inputs: :class:`placement_view.DrainInputs`.
    :param servers: the servers, with their names where Nova gave them.
    :param plan: the :class:`drain.Plan`.
    :param stranded: ``{consumer: drain.Stranded}`` with the reasons.
    :param names: ``{consumer: server name}``.
    :param hosts: ``{compute node name: service host}`` from Nova's API.

    A server is ``truncated`` when Placement had more allocation
    candidates for it than ``candidate_limit``, the number read: its
    ``destinations`` (and the plan) are among the first ones.
    """
    label = inputs.names.get
    hosts = hosts or {}

    def where(node):
        return {'host': hosts.get(node, node), 'node': node}
    out = []
    for server in sorted(servers, key=lambda s: (s.label, s.consumer)):
        options = inputs.options.get(server.consumer, [])
        chosen = plan.assignments.get(server.consumer)
        truncated = server.consumer in inputs.truncated
        entry = {
            'consumer': server.consumer,
            'name': server.name,
            'devices': [{'provider': d.provider,
                         'provider_name': d.name,
                         'resources': dict(d.resources),
                         'streams': sorted(d.streams),
                         'accepted_by': sorted(
                             label(p, p) for p in
                             inputs.acceptors.get(d.provider, ()))}
                        for d in server.devices],
            'destinations': [dict(where(o.host), providers=[
                label(p, p) for p in o.providers]) for o in options],
            'plan': chosen and dict(where(chosen.host), providers=[
                label(p, p) for p in chosen.providers]),
            'stranded': None,
            'not_used': [dict(where(host), why=why, reason=reason)
                         for host, why, reason in nvc_drain.unused_hosts(
                             server, chosen, options, inputs.acceptors,
                             inputs.roomy, inputs.hosts, inputs.names,
                             inputs.limit if truncated else None)],
            'truncated': truncated,
        }
        if server.consumer in stranded:
            why = stranded[server.consumer]
            entry['stranded'] = {'why': why.why, 'reason': why.reason}
        out.append(entry)
    return {
        'host': hosts.get(inputs.host, inputs.host),
        'node': inputs.host,
        'host_names': 'service' if inputs.host in hosts else 'node',
        'disabled': [where(h) for h in inputs.disabled],
        'not_checked': list(nvc_drain.NOT_CHECKED),
        'assumptions': assumptions(assumed),
        'servers': out,
        'unchecked': [{'consumer': c, 'name': names.get(c),
                       'providers': sorted(p)}
                      for c, p in sorted(inputs.unchecked.items())],
        'candidate_limit': inputs.limit,
        'placed': len(plan.assignments),
        'stranded': len(stranded),
    }


def fleet(families, assumed=()):
    """The fleet map as plain data."""
    return {'assumptions': assumptions(assumed),
            'families': [f.to_dict() for f in families]}


def upgrade(result, inputs, names, assumed=(), hosts=None, wave_size=1):
    """The plan of a rolling upgrade as plain data.

    Hosts are named as in :func:`drain`.

    :param result: the :class:`upgrade.UpgradePlan`.
    :param inputs: :class:`placement_view.UpgradeInputs`.
    :param names: ``{consumer: server name}``.
    """
    label = inputs.names.get
    hosts = hosts or {}

    def where(node):
        return {'host': hosts.get(node, node), 'node': node}

    def server(entry):
        return {'consumer': entry.consumer,
                'name': names.get(entry.consumer, entry.name)}
    waves = []
    for number, wave in enumerate(result.waves, 1):
        moves = []
        for consumer, (before, option) in sorted(wave.moves.items(), key=(
                lambda item: (names.get(item[0]) or item[0], item[0]))):
            moves.append(dict(
                server(before),
                source=where(wave.providers[before.devices[0].provider].host),
                destination=dict(where(option.host), providers=[
                    label(p, p) for p in option.providers]),
                streams=sorted(before.streams)))
        waves.append({
            'wave': number,
            'hosts': [where(h) for h in wave.hosts],
            'moves': moves,
            'downtime': [dict(server(d.server), host=where(d.host),
                              why=d.why, reason=d.reason,
                              forced=d.why == nvc_upgrade.FORCED)
                         for d in wave.downtime],
        })
    return {
        'hosts': [where(h) for h in inputs.upgrading],
        'host_names': 'service' if any(
            h in hosts for h in inputs.upgrading) else 'node',
        'assumptions': assumptions(assumed),
        'wave_size': wave_size,
        'servers': len(inputs.servers),
        'waves': waves,
        'downtime': {'planned': result.planned, 'bound': result.bound,
                     'avoidable': result.avoidable},
        'unchecked': [{'consumer': c, 'name': names.get(c),
                       'providers': sorted(p)}
                      for c, p in sorted(inputs.unchecked.items())],
        'disabled': [where(h) for h in inputs.disabled],
        'not_checked': list(nvc_drain.NOT_CHECKED),
    }
