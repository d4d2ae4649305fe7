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


"""The Nova scheduler side: :class:`VFIOCompatFilter`.

Enable it in the nova.conf of nova-scheduler with::

    [filter_scheduler]
    available_filters = nova.scheduler.filters.all_filters
    available_filters = nova_vfio_compat.scheduler.VFIOCompatFilter
    enabled_filters = ...,VFIOCompatFilter

This package is the Nova adapter: importing it imports Nova.  Its
Nova-free part (the Placement reads of a request and the per-host test)
is :mod:`nova_vfio_compat.selection`; what the rest of the project shares
with it (the flavor policy) is in :mod:`nova_vfio_compat.model.policy`.
"""

from nova_vfio_compat.scheduler.vfio_compat_filter import VFIOCompatFilter

__all__ = ['VFIOCompatFilter']
