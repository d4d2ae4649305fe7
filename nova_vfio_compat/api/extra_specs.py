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


"""Flavor extra specs of the ``vfio_compat:`` namespace, for nova-api.

Nova loads :func:`register` through the ``nova.api.extra_spec_validators``
entry point and, from compute API microversion 2.86, rejects a flavor
extra spec in this namespace whose key or value is not listed here.

``vfio_compat:policy`` selects how :class:`VFIOCompatFilter` treats live
migrations of servers of the flavor:

``check``
    Check the devices the reporter describes (the default unless
    ``[vfio_compat_filter] default_policy`` says otherwise).
``strict``
    As ``check``, and a server holding a device the reporter does not
    describe is not live-migrated by the scheduler at all.
``skip``
    The filter passes every host for this flavor.
"""

from nova.api.validation.extra_specs import base

from nova_vfio_compat.model import policy


def register():
    """The validators of the ``vfio_compat:`` namespace."""
    return [
        base.ExtraSpecValidator(
            name=policy.POLICY_EXTRA_SPEC,
            description=(
                'How VFIOCompatFilter checks live migrations of servers of '
                'this flavor: "check" the devices the VFIO compatibility '
                'reporter describes, "strict" also refuses to schedule '
                'servers holding devices it does not describe, "skip" '
                'does not check.'),
            value={
                'type': str,
                'enum': list(policy.POLICIES),
            },
        ),
    ]
