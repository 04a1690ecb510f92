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

"""The measured-boot engine ``ironic-keylime``, run by Keylime's verifier.

Keylime's verifier checks a measured-boot policy with the engine its
configuration names; this package is one, for the golden boot states
ironic-keylime enrolls (:mod:`.policy`), which also corrects the boot
aggregates Keylime accepts for logs without events in PCR 8 or 9
(:mod:`.boot_aggregates`). It needs Keylime (7.12 or newer)
and the standard library, nothing of Ironic. On the verifier::

    [verifier]
    measured_boot_imports = ['ironic_keylime.verifier_engine.policy']
    measured_boot_policy_name = ironic-keylime
"""
