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

"""Serve the real Placement WSGI app on 127.0.0.1, as its own process.

``OS_PLACEMENT_CONFIG_DIR=DIR python -m
tests.functional.reporter.placement_server PORT``; ``DIR/placement.conf``
names the sqlite file and ``auth_strategy = noauth2``.  Placement ships no
server of its own (only ``placement.wsgi.api:application``), so the
stdlib's threaded WSGI server serves it.
"""

import socketserver
import sys
from wsgiref import simple_server


class _ThreadingWSGIServer(socketserver.ThreadingMixIn,
                           simple_server.WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(simple_server.WSGIRequestHandler):
    def log_message(self, *args):
        pass


def main():
    port = int(sys.argv[1])
    from placement import wsgi
    app = wsgi.init_application()
    httpd = simple_server.make_server(
        '127.0.0.1', port, app, server_class=_ThreadingWSGIServer,
        handler_class=_QuietHandler)
    print('placement listening on http://127.0.0.1:%d' % port, flush=True)
    httpd.serve_forever()


if __name__ == '__main__':
    main()
