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

"""A client of Keylime's ``keylime_tenant`` and verifier, free of Ironic.

:mod:`.tenant` runs the tenant and turns prepared files into its
arguments, :mod:`.status` reads its verdicts, :mod:`.output` its errors;
:mod:`.verifier` reads verdicts and deletes agents through the verifier's
REST API (:mod:`.https`, :mod:`.tls`); :mod:`.registrar` reads an agent's
endorsement key from the registrar (:mod:`.ek`). The Keylime protocol
only: lists are made in :mod:`ironic_keylime.lists`. Nothing here imports
Ironic, so the package can be read and tested on its own.
"""
