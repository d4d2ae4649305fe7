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

"""A server on 127.0.0.1 that answers every request one byte at a time.

What a Placement behind a congested or hostile proxy looks like to a
client: each byte comes well within the client's per-read timeout, so
only a total deadline ends the request.  Bounded: it answers with at most
``len(answer)`` bytes per request, stops on :meth:`Trickle.close`, and
listens on the loopback interface only.
"""

import json
import socket
import threading
import time


class Trickle:
    """Serve ``body`` (JSON) with status 200, one byte every ``delay``."""

    def __init__(self, body=None, delay=0.05):
        payload = json.dumps(body if body is not None else {
            'resource_providers': []}).encode()
        self.answer = (b'HTTP/1.1 200 OK\r\n'
                       b'Content-Type: application/json\r\n'
                       b'Content-Length: %d\r\n'
                       b'Connection: close\r\n\r\n' % len(payload)) + payload
        self.delay = delay
        self.requests = 0
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(('127.0.0.1', 0))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self.endpoint = 'http://127.0.0.1:%d' % self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def full_answer_seconds(self):
        """How long one whole answer takes to trickle out."""
        return len(self.answer) * self.delay

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,),
                             daemon=True).start()

    def _answer(self, conn):
        self.requests += 1
        try:
            conn.settimeout(1)
            data = b''
            while b'\r\n\r\n' not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            for i in range(len(self.answer)):
                if self._stop.is_set():
                    return
                conn.sendall(self.answer[i:i + 1])
                time.sleep(self.delay)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self._stop.set()
        self._sock.close()
        self._thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
