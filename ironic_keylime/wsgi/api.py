#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.

"""Ironic's API as a WSGI application, with the attestation interface type.

What ``ironic-attest-api`` is for Ironic's ``ironic-api``, this module is
for Ironic's ``ironic.wsgi:application``: the module a WSGI server (uWSGI,
mod_wsgi, gunicorn) loads, as kolla-ansible and OpenStack-Ansible serve
Ironic's API::

    uwsgi --plugin python3 --virtualenv /opt/ironic \\
        --http11-socket 127.0.0.1:6385 \\
        --module ironic_keylime.wsgi.api:application \\
        --pyargv "--config-file /etc/ironic/ironic.conf"

It adds the attestation interface type to Ironic before Ironic's API
modules are imported, then hands over Ironic's own application unchanged
(which reads its configuration from the process's arguments, as
``ironic.wsgi`` does). An Ironic whose patched internals changed shape is
refused: the import fails, and the WSGI server serves nothing.
"""

import sys

import ironic.command  # noqa: F401  (selects oslo.service's backend first)

from ironic_keylime import ironic_integration


def init_application():
    """Register the attestation interface type; return Ironic's app.

    :returns: Ironic's WSGI application.
    :raises: IronicShapeError when the installed Ironic's internals are not
        those the patches expect (also written to standard error, which
        the WSGI server logs).
    """
    try:
        ironic_integration.register_attestation_interface_type()
    except ironic_integration.IronicShapeError as e:
        sys.stderr.write('ironic_keylime.wsgi.api: %s\n' % e)
        raise
    from ironic.wsgi import application as ironic_application
    return ironic_application


application = init_application()
