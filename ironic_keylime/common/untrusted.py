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

"""Untrusted values in log lines and messages.

What a node's ramdisk reports is written by whoever controls the node: a
value echoed as it came could forge log lines (line breaks), drive the
terminal of whoever reads the log (escape sequences), hide text (Unicode
direction overrides) or flood it. :func:`text` makes such a value safe to
show. Standard library only.
"""

#: The most characters of an untrusted value shown.
LIMIT = 120
#: The most characters of an untrusted explanation (a note) shown.
NOTE_LIMIT = 200
#: The most characters of an error the ramdisk reports for a command: it
#: names a command, its exit status and its output, which an operator
#: needs to act on.
ERROR_LIMIT = 1000


def text(value, limit=LIMIT):
    """An untrusted value as text safe for a log line or a message.

    Characters that are not printable (control characters, line breaks,
    escape sequences, Unicode format and separator characters) are
    escaped as Python's ``repr`` escapes them; the text is cut after
    ``limit`` characters and then ends with ``...``.

    :param value: any value; a string is shown without quotes, anything
        else as its ``repr``.
    :param limit: the most characters shown.
    :returns: a string of printable characters, at most ``limit`` + 3
        long.
    """
    shown = value if isinstance(value, str) else repr(value)
    cut = len(shown) > limit
    shown = ''.join(
        c if c.isprintable()
        else c.encode('unicode_escape').decode('ascii')
        for c in shown[:limit])
    if len(shown) > limit:
        shown, cut = shown[:limit], True
    return shown + '...' if cut else shown
