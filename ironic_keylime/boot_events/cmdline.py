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

"""A kernel command line without its per-boot parameters.

Ironic puts values on a ramdisk's command line that change at every boot
(a request id, an agent token, the boot interface's MAC). A golden boot
state holds only if those are set aside: :func:`stable_tokens` gives the
rest, and :func:`describe_change` says what differs in words.

A per-boot parameter is set aside only when its value has the expected
shape (a pattern matched in full): ``ipa-global-request-id=req-x
init=/bin/sh`` leaves ``init=/bin/sh``, and a value that does not fit its
pattern stays, and is then a change.
"""

import re

#: The most characters of a change shown to an operator.
SHOWN = 200


def compile_parameters(parameters):
    """Compile ``{name: pattern}`` into ``{name: compiled pattern}``.

    :raises: ValueError naming a parameter whose pattern does not compile.
    """
    compiled = {}
    for name, pattern in (parameters or {}).items():
        try:
            compiled[name] = re.compile(pattern)
        except (re.error, TypeError) as e:
            raise ValueError('the pattern of the per-boot parameter %s does '
                             'not compile: %s' % (name, e))
    return compiled


def stable_tokens(text, parameters):
    """The tokens of a command line, its per-boot parameters left out.

    :param text: a command line, or a boot loader command holding one.
    :param parameters: ``{name: compiled pattern}``
        (:func:`compile_parameters`).
    :returns: a list of strings, in order.
    """
    tokens = []
    for token in text.split():
        name, sep, value = token.partition('=')
        pattern = parameters.get(name)
        if sep and pattern is not None and pattern.fullmatch(value):
            continue
        tokens.append(token)
    return tokens


def _shown(tokens):
    text = ' '.join(repr(t) for t in tokens)
    return text if len(text) <= SHOWN else text[:SHOWN] + '...'


def describe_change(golden, current):
    """Say how two token lists differ, for an operator.

    :returns: e.g. ``added 'init=/bin/sh'; removed 'ima_policy=tcb'``, or
        ``the same parameters in another order``.
    """
    added = list(current)
    removed = []
    for token in golden:
        if token in added:
            added.remove(token)
        else:
            removed.append(token)
    parts = []
    if added:
        parts.append('added %s' % _shown(added))
    if removed:
        parts.append('removed %s' % _shown(removed))
    return '; '.join(parts) or 'the same parameters in another order'
