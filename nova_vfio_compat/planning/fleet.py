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

"""The fleet map: per device family, who emits what, who accepts what,
and which hosts can receive servers from which.

Pure: no I/O.  Input is the device providers with their (possibly
assumed) trait sets, :class:`compatibility.Provider`.

For one family, host A *can move to* host B (A != B) when every device
provider of A that emits a stream of the family has a provider on B that
accepts all of that provider's streams of the family: a server holding any
one of A's devices of the family has a compatible device to go to on B
(capacity aside, which changes by the minute; ``drain`` checks it).

The relation is summarised as *groups*: the strongly connected components
of the relation, hosts between which servers can move both ways, directly
or through other hosts of the group.  Edges between groups are one-way:
servers can move from the first group to the second but never back, which
is the order a rolling upgrade takes them in.
"""

import collections
import dataclasses

from nova_vfio_compat.model import traits as nvc_traits
from nova_vfio_compat.planning import compatibility


@dataclasses.dataclass
class Family:
    """One device family of the fleet.

    ``emits`` and ``accepts`` map a host to the versions ``(major,
    minor)`` it emits, and the versions some host emits that it accepts;
    ``streams`` maps each version to its emit traits; ``host_streams``
    maps a host to the emit traits of the family it emits, which tell
    apart two streams of one version (vGPU streams typed by different
    mdev types, other subsystem IDs); ``stream_types`` maps an emit
    trait to the mdev types of the vGPU streams it names (the types the
    emitting providers' mdev type traits name; empty for a PCI device's
    stream); ``can_move_to``
    maps a host to the set of hosts it can move to; ``groups`` is a list of
    sorted host lists and ``group_edges`` the ``(from, to)`` group indexes.
    """

    name: str
    emits: dict
    accepts: dict
    streams: dict
    can_move_to: dict
    groups: list
    group_edges: list
    host_streams: dict = dataclasses.field(default_factory=dict)
    stream_types: dict = dataclasses.field(default_factory=dict)

    def ambiguous(self):
        """Do several streams of the family share one version?"""
        return any(len(names) > 1 for names in self.streams.values())

    def mdev_types(self, hosts):
        """The mdev types of the streams of the family ``hosts`` emit."""
        return sorted({t for h in hosts for e in self.host_streams.get(h, ())
                       for t in self.stream_types.get(e, ())})

    def to_dict(self):
        return {
            'family': self.name,
            'hosts': {host: {'emits': [format_version(v) for v in
                                       self.emits.get(host, ())],
                             'accepts': [format_version(v) for v in
                                         self.accepts.get(host, ())],
                             'emit_traits': sorted(
                                 self.host_streams.get(host, ())),
                             'mdev_types': self.mdev_types([host])}
                      for host in sorted(set(self.emits) |
                                         set(self.accepts))},
            'streams': {format_version(v): sorted(s)
                        for v, s in sorted(self.streams.items())},
            'can_move_to': {host: sorted(dests) for host, dests in
                            sorted(self.can_move_to.items())},
            'groups': [list(g) for g in self.groups],
            'group_mdev_types': [self.mdev_types(g) for g in self.groups],
            'group_edges': [list(e) for e in self.group_edges],
            'stream_mdev_types': {e: sorted(t) for e, t in sorted(
                self.stream_types.items())},
        }


def stream_id(emit):
    """The first 8 hex digits of an emit trait's identity hash.

    What tells apart two streams of one family and version: the hash
    covers the whole identity (subsystem IDs, a vGPU stream's mdev type).
    """
    parsed = nvc_traits.parse(emit)
    if not parsed:
        return emit
    return parsed.stream.rpartition('_')[2][:8]


def format_version(version):
    return '%d.%d' % version


def format_versions(versions):
    """``[(1, 0), (1, 1), (1, 2), (2, 0)]`` as ``'1.0-1.2, 2.0'``."""
    spans = []
    for major, minor in sorted(versions):
        if spans and spans[-1][0] == major and spans[-1][2] == minor - 1:
            spans[-1][2] = minor
        else:
            spans.append([major, minor, minor])
    return ', '.join('%d.%d' % (ma, lo) if lo == hi else
                     '%d.%d-%d.%d' % (ma, lo, ma, hi)
                     for ma, lo, hi in spans)


def _family_streams(provider, family):
    out = set()
    for stream in provider.streams:
        parsed = compatibility.version(stream)
        if parsed and parsed[0] == family:
            out.add(stream)
    return frozenset(out)


def _components(nodes, edges):
    """Strongly connected components (Tarjan, iterative), sorted."""
    index, low, on_stack, stack, result = {}, {}, set(), [], []
    counter = 0
    for start in sorted(nodes):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                result.append(sorted(component))
    return sorted(result)


def can_move(sources, dests, family):
    """Can every device of ``family`` among ``sources`` move to ``dests``?

    ``sources`` are the device providers of one host, ``dests`` those of
    another.
    """
    for source in sources:
        streams = _family_streams(source, family)
        if streams and not any(compatibility.accepts(d.traits, streams)
                               for d in dests):
            return False
    return True


def _stream_types(providers):
    """``{emit trait: frozenset(mdev types)}`` of the typed streams.

    A stream is of the types every provider that emits it names: one,
    unless a provider of several types (a device list's GPU, not Nova's)
    is all that tells.
    """
    out = {}
    for provider in providers:
        types = provider.mdev_types
        if not types:
            continue
        for stream in provider.streams:
            out[stream] = out.get(stream, types) & types
    return {s: t for s, t in out.items() if t}


def build(providers):
    """The :class:`Family` s of the fleet, by name."""
    by_host = collections.defaultdict(list)
    streams = collections.defaultdict(lambda: collections.defaultdict(set))
    stream_types = _stream_types(providers)
    for provider in providers:
        by_host[provider.host].append(provider)
        for stream in provider.streams:
            parsed = compatibility.version(stream)
            if parsed:
                streams[parsed[0]][parsed[1:]].add(stream)
    families = []
    for name in sorted(streams):
        versions = streams[name]
        emits, accepts, host_streams = {}, {}, {}
        family_streams = frozenset().union(*versions.values())
        for host, members in by_host.items():
            emitted = {v for v, names in versions.items()
                       if any(names & p.streams for p in members)}
            if emitted:
                emits[host] = sorted(emitted)
                host_streams[host] = sorted(family_streams & {
                    s for p in members for s in p.streams})
            accepted = {v for v, names in versions.items()
                        if any(compatibility.accepts(p.traits, [s])
                               for s in names for p in members)}
            if accepted:
                accepts[host] = sorted(accepted)
        hosts = set(emits) | set(accepts)
        relation = {a: {b for b in hosts if b != a and can_move(
            by_host[a], by_host[b], name)} for a in sorted(emits)}
        groups = _components(hosts, relation)
        group_of = {h: i for i, g in enumerate(groups) for h in g}
        edges = sorted({(group_of[a], group_of[b])
                        for a, dests in relation.items() for b in dests
                        if group_of[a] != group_of[b]})
        families.append(Family(name, emits, accepts,
                               {v: frozenset(s) for v, s in versions.items()},
                               relation, groups, edges, host_streams,
                               {s: stream_types[s] for s in family_streams
                                if s in stream_types}))
    return families


def _escaped(text):
    """``text`` inside a DOT quoted string: as it is, on one line.

    DOT escapes only ``"`` in a quoted string, and Graphviz reads ``\\``
    and ``\\n`` (and ``\\l``, ``\\r``) in a label as escapes of its own,
    and ``&...;`` as an HTML character entity (a host named ``&#;`` would
    be drawn ``&``); so every ``&`` is written ``&amp;``, every backslash
    is doubled and a line break written as ``\\n``.
    """
    return (text.replace('&', '&amp;')
            .replace('\\', '\\\\').replace('"', '\\"')
            .replace('\r', '\\r').replace('\n', '\\n'))


def _quote(text):
    return '"%s"' % _escaped(text)


def to_dot(families):
    """A Graphviz digraph: a cluster per family, a node per group.

    ``dot -Tsvg`` turns it into a picture; an edge says servers can move
    from one group to the other (and not back).
    """
    lines = ['digraph fleet {', '  rankdir=LR;',
             '  node [shape=box, fontname="monospace"];']
    for number, family in enumerate(families):
        lines.append('  subgraph cluster_%d {' % number)
        lines.append('    label=%s;' % _quote(family.name))
        for i, group in enumerate(family.groups):
            emitted = sorted({v for h in group
                              for v in family.emits.get(h, ())})
            # One host a line; the names escaped one by one, so that
            # none can end the string or make an escape with the next.
            label = [_escaped(h) for h in group] + [
                'emits %s' % (format_versions(emitted) or 'nothing')]
            types = family.mdev_types(group)
            if types:
                label.append('mdev type %s' % _escaped(', '.join(types)))
            if family.ambiguous():
                label.append('stream %s' % _escaped(' '.join(sorted({
                    stream_id(e) for h in group
                    for e in family.host_streams.get(h, ())}))))
            lines.append('    %s [label="%s"];' % (
                _quote('%d.%d' % (number, i)), '\\n'.join(label)))
        for a, b in family.group_edges:
            lines.append('    %s -> %s;' % (_quote('%d.%d' % (number, a)),
                                            _quote('%d.%d' % (number, b))))
        lines.append('  }')
    lines.append('}')
    return '\n'.join(lines) + '\n'
