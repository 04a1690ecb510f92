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

"""The bound on what the node's ramdisk answers the keylime extension's
calls.

The ramdisk is not trusted: its answers (the agent's identity, the boot
state reading with the UEFI event log) are read by an agent client of
Ironic's own kind, kept apart from the one Ironic uses for its own
commands, whose every answer is read as it streams in and refused past
``[keylime]max_ramdisk_answer_size``, before it is parsed or stored.
"""

from ironic.drivers.modules import agent_client

from ironic_keylime.conf import CONF

#: The option that sets the bound, for messages.
SETTING = '[keylime]max_ramdisk_answer_size'


class AnswerTooLarge(Exception):
    """The ramdisk answered more than the bound; the rest was not read."""


class _CappedRaw(object):
    """A response's raw stream that stops past ``max_bytes``."""

    def __init__(self, raw, max_bytes):
        self._raw = raw
        self._max_bytes = max_bytes

    def stream(self, amt=None, decode_content=None):
        size = 0
        for chunk in self._raw.stream(amt, decode_content=decode_content):
            size += len(chunk)
            if size > self._max_bytes:
                self._raw.close()
                raise AnswerTooLarge(
                    'the ramdisk answered with more than %(max)d bytes '
                    '(%(setting)s); the rest was not read and nothing of '
                    'it was used' % {'max': self._max_bytes,
                                     'setting': SETTING})
            yield chunk

    def __getattr__(self, name):
        return getattr(self._raw, name)


def _bound(max_bytes):
    def hook(response, *args, **kwargs):
        # Called before requests reads the body: every read goes through
        # the capped stream.
        response.raw = _CappedRaw(response.raw, max_bytes)
        return response
    return hook


def client(task):
    """The agent client for the keylime extension's calls of a task.

    :param task: a TaskManager instance.
    :returns: an Ironic :class:`AgentClient` whose answers are bounded by
        ``[keylime]max_ramdisk_answer_size``; it raises
        :class:`AnswerTooLarge` past it.
    """
    try:
        return task.keylime_agent_client
    except AttributeError:
        pass
    bounded = agent_client.AgentClient()
    bounded.session.hooks['response'].append(
        _bound(CONF.keylime.max_ramdisk_answer_size * 1024))
    task.keylime_agent_client = bounded
    return bounded
