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

"""Errors of the lists: the reasons a node's lists cannot be used.

Free of Keylime and of Ironic: the driver turns them into its own
failures.
"""


class ListError(Exception):
    """An allowlist, an excludelist or one of their checksums is unusable.

    The message is meant for an operator: it names the list, where it came
    from and what to do.
    """


class ChecksumMismatch(ListError):
    """A list does not match its checksum."""


class ListTooLarge(ListError):
    """A list is larger than the limit of its option."""
