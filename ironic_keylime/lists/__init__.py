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

"""The lists: where they come from, their formats, and their checks.

A list runs one way through this package: a source (:mod:`.local` for
conductor files, :mod:`.swift` for a Swift container, over
:mod:`.swift_connection` and :mod:`.cache`) streams the lists into a
private directory and reports their digests; :mod:`.prepare` verifies
them (:mod:`.formats`: checksums, entries, excludes, the boot_aggregate
fix) and builds what keylime_tenant reads (:mod:`.policy`: the runtime
policy). The Keylime client only turns the result into arguments.
Nothing here imports the Keylime client.
"""
