#!/usr/bin/python3
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

"""TEST ONLY, NOT FOR PRODUCTION: the Keylime 6.6.0 Python agent.

Installed as /usr/bin/keylime_agent by the ironic-keylime-agent element when
DIB_KEYLIME_AGENT_PYTHON_TEST_ONLY is set (ironic-keylime's virtual-machine
tests). The agent reads the kernel's real IMA log and TPM; one adjustment,
which does not touch attestation, as in tools/keylime/agent_wrapper.py: the
6.6.0 agent's registration requests are fixed for a Keylime 7 registrar
(it sends JSON without ``Content-Type: application/json``, leaves out
``ek_tpm`` when it has an EK certificate, and sends ``ekcert="emulator"``
without one).
"""

import sys

from keylime import json
from keylime import registrar_client
from keylime import requests_client

_seen = {}
_register = registrar_client.doRegisterAgent


def _remember_ek(ip, port, agent_id, ek_tpm, *args, **kwargs):
    _seen['ek_tpm'] = ek_tpm
    return _register(ip, port, agent_id, ek_tpm, *args, **kwargs)


registrar_client.doRegisterAgent = _remember_ek


def _compat(send):
    def wrapper(self, url, **kwargs):
        body = kwargs.get('data')
        if isinstance(body, (str, bytes)):
            try:
                data = json.loads(body)
            except ValueError:
                data = None
            if isinstance(data, dict) and 'aik_tpm' in data:
                if data.get('ekcert') == 'emulator':
                    data['ekcert'] = None
                if not data.get('ek_tpm') and _seen.get('ek_tpm'):
                    data['ek_tpm'] = _seen['ek_tpm']
                kwargs['data'] = json.dumps(data)
            headers = dict(kwargs.get('headers') or {})
            headers.setdefault('Content-Type', 'application/json')
            kwargs['headers'] = headers
        return send(self, url, **kwargs)
    return wrapper


requests_client.RequestsClient.post = _compat(
    requests_client.RequestsClient.post)
requests_client.RequestsClient.put = _compat(
    requests_client.RequestsClient.put)

from keylime.cmd import agent  # noqa: E402  (after the adjustments)

if __name__ == '__main__':
    sys.exit(agent.main())
