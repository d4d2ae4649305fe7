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

"""Nothing of the filter's own escapes into nova-scheduler.

A vGPU server on A; C's GPUs refuse A's stream.  The filter's database
look-up fails with an error that is not a NovaException (the database
gone: a fault the real database cannot be made to produce per query, so
the one query raises it), and an instance is deleted while a move that
is not a live migration is scheduled.
"""

from nova import context
from nova import objects
from nova.tests.functional.api import client
from oslo_db import exception as db_exception

from nova_vfio_compat.scheduler import vfio_compat_filter
from tests.nova import test_moves


class FilterErrorsTest(test_moves._OnAWithOnlyCLeft):

    def _database_down(self):
        def down(*args, **kwargs):
            raise db_exception.DBConnectionError('database gone away')
        self.stub_out('nova.objects.MigrationList.get_by_filters', down)

    def _errors(self):
        return [line for line in self._filter_log()
                if 'cannot check the live migration' in line]

    def test_a_database_error_fails_closed_by_default(self):
        self._boot('A')
        self._database_down()
        ex = self.assertRaises(client.OpenStackApiException,
                               self._live_migrate, self.server, 'error')
        self.assertIn('NoValidHost', str(ex))
        self.assertEqual('A', self._host_of(self.server))
        (line,) = self._errors()
        self.assertIn('unexpected DBConnectionError', line)
        self.assertIn('rejecting every host (fail closed', line)

    def test_a_database_error_passes_every_host_under_fail_open(self):
        self.flags(fail_open=True, group='vfio_compat_filter')
        self._boot('A')
        self._database_down()
        self._live_migrate(self.server, 'completed')
        self.assertEqual('C', self._host_of(self.server))
        (line,) = self._errors()
        self.assertIn('unexpected DBConnectionError', line)
        self.assertIn('passing every host unchecked', line)

    def test_an_instance_deleted_while_it_moves_is_not_rejected(self):
        # A move that sets ignore_hosts (a cold migration here) of an
        # instance deleted meanwhile: there is no live migration to
        # check, whatever fail_open says.
        self._boot('A')
        ctxt = context.get_admin_context()
        spec = objects.RequestSpec.get_by_instance_uuid(
            ctxt, self.server['id'])
        spec.ignore_hosts = ['A']
        self._delete_server(self.server)

        class Host:
            uuid = self.compute_rp_uuids['C']
            host = nodename = 'C'
            allocation_candidates = []

        hosts = [Host()]
        passed = list(vfio_compat_filter.VFIOCompatFilter().filter_all(
            hosts, spec))
        self.assertEqual(hosts, passed)
        self.assertEqual([], self._errors())
