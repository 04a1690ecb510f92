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

"""Excludelists, and the one rule every line of them must follow.

Keylime's verifier (7.14.3: ``keylime.common.validators.
valid_exclude_list`` and ``keylime.ima.ima``) joins the lines into one
expression, ``(line1)|(line2)|...``, compiles it with Python's ``re`` and
ignores every IMA measurement whose name it matches with ``re.match``
(from the start of the name, to no particular end). So a line is judged
here by what Python's ``re`` makes of it: it is parsed with the parser
``re.compile`` itself uses (``re._parser``, ``sre_parse`` before Python
3.11), and refused unless

* it starts with a literal directory: an optional ``^``, then ``/``, at
  least one literal path component and ``/`` (``/tmp/.*``,
  ``^/var/log/.*``). Everything the line matches starts with its literal
  prefix, so it excludes nothing outside the directory it names: no
  lookahead trick (``/(?!(init|...)$)``) and no ``.*`` can exclude more
  than the line says;
* that directory is not one of :data:`PROTECTED_DIRECTORIES` (where the
  executables every node runs live) nor a parent of one (``/usr/``);
* Python's ``re`` matches it in bounded time: no lookaround, no
  back-reference or conditional, no repeat inside a repeat (``(.*)*``,
  ``(a+)+``) and no alternation inside a repeat (``(a|ab)*``), the shapes
  on which its backtracking grows exponentially with the length of the
  path; at most :data:`MAX_VARIABLE_REPEATS` repeats of variable length
  (each multiplies the worst case by the length of the path) and at most
  :data:`MAX_ALTERNATIVES` combinations of alternatives;
* it sets no flags (``(?i)``, ``(?s)``, ...: in the joined expression a
  flag would change every line) and uses no atomic group or possessive
  repeat (Python 3.11 only; Keylime's verifier may run an older Python).

The rule depends on the shape of the line alone, not on sample paths: the
check costs time linear in the line, whatever the line is. A linear-time
engine (RE2) would not help: the question is what Python's ``re`` does
with the line, in the conductor and in Keylime's verifier.
"""

import os
import re

try:  # Python 3.11 and newer
    from re import _constants as sre_constants
    from re import _parser as sre_parse
except ImportError:  # Python 3.10
    import sre_constants
    import sre_parse

from ironic_keylime.lists import exception

#: The executables every node runs (the init system, shells, the
#: interpreter and the agents of the ramdisk). Their directories are
#: :data:`PROTECTED_DIRECTORIES`.
PROTECTED_EXECUTABLES = (
    '/init',
    '/sbin/init',
    '/usr/sbin/init',
    '/usr/lib/systemd/systemd',
    '/lib/systemd/systemd',
    '/usr/bin/bash',
    '/bin/bash',
    '/usr/bin/sh',
    '/bin/sh',
    '/usr/bin/python3',
    '/usr/bin/ironic-python-agent',
    '/usr/local/bin/ironic-python-agent',
    '/usr/bin/keylime_agent',
)
#: Directories no line may exclude from, nor any parent of them: a line
#: naming ``/usr/bin/`` or ``/usr/`` could hide a changed shell.
PROTECTED_DIRECTORIES = tuple(sorted(
    {os.path.dirname(path).rstrip('/') + '/'
     for path in PROTECTED_EXECUTABLES}))
#: Longest line accepted, in characters.
MAX_LINE_LENGTH = 1024
#: Most repeats of variable length (``*``, ``+``, ``?``, ``{m,n}``) in a
#: line: with k of them, Python's ``re`` tries at most about n^k ways on
#: a name of n characters.
MAX_VARIABLE_REPEATS = 2
#: Most combinations of alternatives (``a|b``) in a line.
MAX_ALTERNATIVES = 64

_OK = frozenset(getattr(sre_constants, name) for name in (
    'LITERAL', 'NOT_LITERAL', 'ANY', 'IN', 'CATEGORY', 'AT'))
_REPEATS = frozenset((sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT))
_LOOKAROUND = frozenset((sre_constants.ASSERT, sre_constants.ASSERT_NOT))
_GROUPREF = frozenset(getattr(sre_constants, name) for name in dir(
    sre_constants) if name.startswith('GROUPREF'))
_BEGINNING = frozenset((sre_constants.AT_BEGINNING,
                        sre_constants.AT_BEGINNING_STRING))
#: Flags Python sets by itself on a str pattern.
_DEFAULT_FLAGS = re.UNICODE

_EXAMPLE = ('such as /tmp/.* or ^/var/log/.*')


class LineRefused(ValueError):
    """An excludelist line breaks the rule; the message says why."""


class _Shape(object):
    """What a walk over a parsed line found."""

    def __init__(self):
        self.variable_repeats = 0
        self.alternatives = 1


def _walk(items, shape, in_repeat):
    for op, av in items:
        if op in _OK:
            continue
        if op in _LOOKAROUND:
            raise LineRefused(
                'it uses a lookahead or lookbehind ((?=, (?!, (?<=, '
                '(?<!), which can exclude every name but the ones it '
                'mentions')
        if op in _GROUPREF:
            raise LineRefused(
                'it uses a back-reference or a conditional group (\\1, '
                '(?P=name), (?(1)...)), on which Python\'s re may '
                'backtrack without bound')
        if op == sre_constants.SUBPATTERN:
            _group, add_flags, del_flags, body = av
            if add_flags or del_flags:
                raise LineRefused(
                    'it sets flags ((?i:...), (?s:...)); write the line '
                    'without them')
            _walk(body, shape, in_repeat)
        elif op == sre_constants.BRANCH:
            if in_repeat:
                raise LineRefused(
                    'it repeats an alternation (like (a|ab)*), on which '
                    'Python\'s re backtracks exponentially with the '
                    'length of the name')
            shape.alternatives *= len(av[1])
            for branch in av[1]:
                _walk(branch, shape, in_repeat)
        elif op in _REPEATS:
            low, high, body = av
            if in_repeat:
                raise LineRefused(
                    'it repeats something that itself repeats (like (.*)* '
                    'or (a+)+), on which Python\'s re backtracks '
                    'exponentially with the length of the name: in the '
                    'conductor and in Keylime\'s verifier')
            if low != high:
                shape.variable_repeats += 1
            _walk(body, shape, True)
        else:
            raise LineRefused(
                'it uses %s, which is not allowed in an excludelist (an '
                'atomic group or a possessive repeat exists only since '
                'Python 3.11)' % str(op).lower().replace('_', ' '))


def _directory(items):
    """The literal directory the parsed line starts with, or None."""
    chars = []
    for index, (op, av) in enumerate(items):
        if index == 0 and op == sre_constants.AT and av in _BEGINNING:
            continue
        if op != sre_constants.LITERAL:
            break
        chars.append(chr(av))
    prefix = ''.join(chars)
    directory = prefix[:prefix.rfind('/') + 1]
    if not directory.startswith('/') or len(directory.strip('/')) == 0:
        return None
    return directory


def check_line(line):
    """Check one excludelist line against the rule (see the module).

    :param line: the line, without its new line.
    :returns: the directory the line excludes from, e.g. ``/var/log/``.
    :raises: LineRefused saying why the line is refused.
    """
    if len(line) > MAX_LINE_LENGTH:
        raise LineRefused('it is longer than %d characters'
                          % MAX_LINE_LENGTH)
    try:
        parsed = sre_parse.parse(line)
        re.compile(line)
    except re.error as e:
        raise LineRefused('it is not a valid regular expression (%s)' % e)
    except RecursionError:
        raise LineRefused('it nests groups too deeply')
    if parsed.state.flags & ~_DEFAULT_FLAGS:
        raise LineRefused(
            'it sets flags ((?i), (?s), (?x), ...): Keylime joins the lines '
            'into one expression, where a flag would change every line')
    shape = _Shape()
    _walk(list(parsed), shape, False)
    if shape.variable_repeats > MAX_VARIABLE_REPEATS:
        raise LineRefused(
            'it has %d repeats of variable length (*, +, ?, {m,n}); at '
            'most %d keep the time Python\'s re may take on a name '
            'bounded' % (shape.variable_repeats, MAX_VARIABLE_REPEATS))
    if shape.alternatives > MAX_ALTERNATIVES:
        raise LineRefused(
            'its alternations (a|b) give %d combinations, more than %d'
            % (shape.alternatives, MAX_ALTERNATIVES))
    directory = _directory(list(parsed))
    if directory is None:
        raise LineRefused(
            'it does not start with the literal directory it excludes '
            'from (an optional ^, then /, at least one path component '
            'without special characters, and /, %s): only such a line '
            'excludes nothing outside the directory it names' % _EXAMPLE)
    for protected in PROTECTED_DIRECTORIES:
        if protected.startswith(directory):
            raise LineRefused(
                'it excludes from %(dir)s, which is or holds %(protected)s, '
                'the directory of executables every node runs (%(exe)s); '
                'an excludelist may not reach there' %
                {'dir': directory, 'protected': protected,
                 'exe': ', '.join(p for p in PROTECTED_EXECUTABLES
                                  if os.path.dirname(p) + '/'
                                  == protected)})
    return directory


def read_excludes(path, source=None):
    """Read and check an excludelist: one regular expression a line.

    Empty lines and lines starting with ``#`` are skipped (Keylime skips
    them too). Each line must pass :func:`check_line`, and the lines must
    compile joined as Keylime joins them. The conductor (before any tenant
    call) and ``ironic-keylime-lists upload`` both check with this
    function.

    :param path: the excludelist file.
    :param source: where it comes from, for messages, or None.
    :returns: a list of strings.
    :raises: ListError naming the first refused line and why, or saying
        that the lines do not join into a valid expression.
    """
    source = ' from %s' % source if source else ''
    excludes = []
    with open(path, encoding='utf-8', errors='replace') as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            try:
                check_line(line)
            except LineRefused as e:
                raise exception.ListError(
                    'Line %(num)d of the excludelist%(src)s, %(line)r, is '
                    'refused: %(why)s. Remove the line or rewrite it (see '
                    '"The excludelist rule" in the admin guide).' %
                    {'num': number, 'src': source, 'line': line[:200],
                     'why': e})
            excludes.append(line)
    if excludes:
        try:
            re.compile('(' + ')|('.join(excludes) + ')')
        except re.error as e:
            raise exception.ListError(
                'The lines of the excludelist%(src)s are valid one by one '
                'but not joined as Keylime joins them, "(line1)|(line2)" '
                '(%(err)s). Rewrite the lines that use named groups.'
                % {'src': source, 'err': e})
    return excludes
