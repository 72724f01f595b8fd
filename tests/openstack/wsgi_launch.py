"""Serve one OpenStack WSGI app under gunicorn (tests/openstack/up.sh).

The services parse sys.argv with oslo.config at import time and would read gunicorn's own
arguments as theirs; this module resets sys.argv to the service's own program name and config
file before it imports the app. BRIDGE_OS_WSGI names the module, BRIDGE_OS_ARGV the argv
(space-separated).
"""
import importlib
import os
import sys

sys.argv = os.environ["BRIDGE_OS_ARGV"].split()
application = importlib.import_module(os.environ["BRIDGE_OS_WSGI"]).application
