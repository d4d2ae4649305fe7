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

"""The Placement API version this project needs, checked up front.

Pure: the caller reads ``GET /`` (Placement's version document) and passes
its body.  1.39 is what the filter and the planning commands ask for:
``required=in:`` (1.39), ``root_required`` (1.35), ``mappings`` in
allocation candidates (1.34) and the provider summaries' traits and
roots (1.29).  Without it every read of theirs is refused (406), which
says nothing about what to upgrade.
"""

# The microversion the filter and the planning reads ask at, and so the
# least Placement must offer: its one home.
MICROVERSION = '1.39'
REQUIRED = tuple(int(part) for part in MICROVERSION.split('.'))


class PlacementTooOld(ValueError):
    """Placement's maximum microversion is below :data:`REQUIRED`.

    Also raised when ``GET /`` is not Placement's version document: the
    version it offers is then unknown.
    """


def _parse(text):
    major, _, minor = str(text).partition('.')
    return int(major), int(minor)


def max_version(root_body):
    """The highest microversion of ``GET /``'s body, as ``(major, minor)``.

    :raises PlacementTooOld: for a body that is not Placement's version
        document.
    """
    try:
        versions = root_body['versions']
        return max(_parse(v['max_version']) for v in versions)
    except (KeyError, TypeError, ValueError) as e:
        raise PlacementTooOld(
            'GET / did not answer with Placement\'s version document '
            '(%s: %s); nova-vfio-compat needs Placement API microversion '
            '%s or later' % (type(e).__name__, e, MICROVERSION))


def check(root_body, endpoint='Placement'):
    """Raise :exc:`PlacementTooOld` unless ``root_body`` offers 1.39.

    :param endpoint: how to name the service in the message (its URL).
    """
    found = max_version(root_body)
    if found < REQUIRED:
        raise PlacementTooOld(
            '%s supports microversions up to %d.%d; nova-vfio-compat needs '
            'Placement API microversion %s or later (required=in:, '
            'root_required: OpenStack Placement 2022.1 Yoga or newer)'
            % (endpoint, found[0], found[1], MICROVERSION))
    return found
