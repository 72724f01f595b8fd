"""A read-only stand-in for Neutron on 127.0.0.1:9696 (tests/openstack/up.sh).

Nova asks Neutron about ports even for servers booted with `networks: none`; this answers every
list with an empty list and every single-object read with 404, so Nova sees a cloud with no
ports. It is kept out of the service catalog (Nova reaches it through
`[neutron] endpoint_override`), so Heat offers no OS::Neutron::* resources and no write is ever
accepted: anything but GET is refused with 405.
"""
import json
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


UUID = re.compile(r"[0-9a-fA-F-]{32,36}")


class Handler(BaseHTTPRequestHandler):
    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = self.path.split("?", 1)[0].rstrip("/")
        last = path.rsplit("/", 1)[-1]
        if last in ("", "v2.0"):
            self._send(200, {"resources": []})
        elif not UUID.fullmatch(last):
            # a collection: ports, networks, extensions, security-groups, quotas...
            self._send(200, {last.replace("-", "_"): []})
        else:
            self._send(404, {"NeutronError": {"type": "NotFound", "message": path + " not found"}})

    def _refuse(self):
        self._send(405, {"NeutronError": {"type": "NotAllowed", "message": "the test stub is read-only"}})

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
