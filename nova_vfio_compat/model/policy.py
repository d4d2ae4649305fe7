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

"""The live-migration policy a flavor asks for: ``vfio_compat:policy``.

Core data, shared by the option that sets the default (``[vfio_compat_filter]
default_policy``), nova-api's extra spec validator and the scheduler
filter, none of which should have to import another to know the values.
"""

# Check the devices the reporter describes.
POLICY_CHECK = 'check'
# Like check, and a device without capability traits blocks the migration.
POLICY_STRICT = 'strict'
# Do not check.
POLICY_SKIP = 'skip'
POLICIES = (POLICY_CHECK, POLICY_STRICT, POLICY_SKIP)
POLICY_EXTRA_SPEC = 'vfio_compat:policy'


def effective_policy(extra_specs, default):
    """The policy a flavor asks for.

    ``default`` when it names none, or a value nova-api would not accept
    today (a flavor written before microversion 2.86 validation).
    """
    value = (extra_specs or {}).get(POLICY_EXTRA_SPEC)
    return value if value in POLICIES else default
