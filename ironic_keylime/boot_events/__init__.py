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

"""A node's UEFI boot events, compared with its golden boot.

Free of Ironic and of Keylime: :mod:`.tcg` reads a binary TCG2 event log,
:mod:`.cmdline` gives a kernel command line without the parameters that
may change at every boot, :mod:`.compare` says, in an operator's words,
how a boot's events differ from the golden ones. The conductor uses them
on the event log of an enrollment; the verifier's measured-boot engine
(:mod:`ironic_keylime.verifier_engine`) on every quote's event log.
"""
