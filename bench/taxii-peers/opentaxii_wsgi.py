"""WSGI entry point for OpenTAXII 0.9.3 that makes its TAXII 2.1 API usable.

OpenTAXII 0.9.3 (the newest release on PyPI) serialises TAXII 2.1 responses
with a bare ``json.dumps`` while its SQL persistence returns ``uuid.UUID``
ids, so every response that carries an id (collections list, collection
info, POST objects -> status resource, GET status) fails with HTTP 500
"Object of type UUID is not JSON serializable" (upstream issue #243; fixed
on the master branch by PR #289, never released).  The POSTed objects are
stored before the 500, so a client cannot tell success from failure.

This module applies the same fix as upstream (UUID -> str when encoding the
response body) and nothing else, then exposes the stock app.  Use it exactly
like ``opentaxii.http``::

    gunicorn opentaxii_wsgi:app --pythonpath DIR_OF_THIS_FILE \
        --config python:opentaxii.http --bind 127.0.0.1:PORT
"""
import json
import uuid

import opentaxii.server as _server
import opentaxii.taxii2.http as _taxii2_http

_original = _taxii2_http.make_taxii2_response


def _default(obj):
    if isinstance(obj, uuid.UUID):
        return str(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def make_taxii2_response(data, status=200, extra_headers=None):
    if not isinstance(data, str):
        data = json.dumps(data, default=_default)
    return _original(data, status=status, extra_headers=extra_headers)


# server.py imported the function by name, so patch both references.
_taxii2_http.make_taxii2_response = make_taxii2_response
_server.make_taxii2_response = make_taxii2_response

from opentaxii.http import app  # noqa: E402  (builds the app from OPENTAXII_CONFIG)

__all__ = ["app"]
