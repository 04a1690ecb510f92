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

"""The troubleshooting page documents every message of the code.

``doc/source/admin/troubleshooting.rst`` must hold an entry for every
message ironic-keylime can put in a node's ``last_error`` or history.
This test reads the modules those messages come from with :mod:`ast`
and fails, naming each missing message's key and its module, when the
page lacks one.

The rule: which strings are messages
====================================

In the modules of :data:`MESSAGE_MODULES`, a *message* is a string
literal (adjacent literals joined; the left operand of ``%`` and the
receiver of ``.format()`` count as the literal) that is:

1. the argument of a call to ``_()`` (every translated string is shown
   to someone), except the ``_()`` values of a module-level dictionary
   whose name ends in ``PROPERTIES`` (the help of ``baremetal driver
   property list``, not a message);
2. the first positional argument, or the ``message``, ``reason`` or
   ``event`` keyword argument, of a call to ``<alias>.<Name>(...)``
   where ``<alias>`` is bound by an import of a module named
   ``exception``, ``exceptions`` or ``errors`` (Ironic's,
   ironic-keylime's, the Keylime client's, the lists',
   ironic-python-agent's), or of a call to a class the same
   module defines as a subclass of a class whose name ends in
   ``Error``, ``Exception`` or ``Failure``;
3. the ``event`` of a call to ``node_history_record``;
4. a string returned by a function of :data:`DESCRIBING_MODULES`
   (the returned expression itself, or an operand of its ``or``/``and``
   or a branch of its ``if``/``else``), modules whose functions return
   sentences that end up in a message, e.g. the descriptions of
   Keylime's failure events.

Builtin exceptions (``ValueError``, ``TypeError``) are not counted:
they are caught and wrapped in a counted message. Nor is a message
built in a variable and raised later: write messages where they are
raised, or in ``_()``, so that the rule sees them.

The key of a message
====================

The message is cut at its placeholders (``%s``, ``%(name)r``,
``{}``...); each piece is normalised (lower case, every run of
characters other than letters, digits and ``_`` becomes one space).
The key is the piece with the most words (the first of those), cut
to its first :data:`KEY_WORDS` words: the most telling part of the
message, the one an operator would search the page for.
A message without a word (``'%s: %s'``) has no key: it only joins
others. One inline literal of the page (````...````, where the page
quotes the messages), normalised the same way (so line breaks and
placeholders written as ``<node>`` do not matter), must contain each
key as whole words: a key that only appears in the page's prose does
not count.

Adding an entry: see ``doc/source/contributor/testing.rst``.
"""

import ast
import os
import re
import textwrap

from oslotest import base

import ironic_keylime

#: The package's directory.
PACKAGE_DIR = os.path.dirname(os.path.abspath(ironic_keylime.__file__))
#: The troubleshooting page.
PAGE = os.path.join(os.path.dirname(PACKAGE_DIR), 'doc', 'source',
                    'admin', 'troubleshooting.rst')
#: Modules (paths relative to the package, globs of one directory with
#: ``*.py``) whose messages can reach a node's last_error or history.
MESSAGE_MODULES = (
    'common/exception.py',
    'drivers/modules/keylime/*.py',
    'keylime_client/*.py',
    'lists/*.py',
    'ironic_integration/api_guard.py',
    'ironic_integration/steps_guard.py',
    'ironic_integration/names.py',
    # The ramdisk's errors, quoted in the driver's "<command> failed in
    # the ramdisk: <error>".
    'ipa/*.py',
)
#: Modules whose functions' returned strings are parts of messages.
DESCRIBING_MODULES = ('keylime_client/events.py',)
#: At most this many words make a key.
KEY_WORDS = 10
#: Messages that never reach a node, keyed by (module, key), with the
#: reason. Keep it short: every entry is a message the page may skip.
NOT_FOR_NODES = {}

_PLACEHOLDER_RE = re.compile(
    r'%(?:\([^)]*\))?[-#0 +]*(?:\d+|\*)?(?:\.\d+)?[sdrfixXeEgGc]'
    r'|\{[^{}]*\}')
_NON_WORD_RE = re.compile(r'[^a-z0-9_]+')
_LITERAL_RE = re.compile(r'``(.+?)``', re.DOTALL)
_EXCEPTION_MODULES = ('exception', 'exceptions', 'errors')
_EXCEPTION_BASE_RE = re.compile(r'(Error|Exception|Failure)$')


def normalise(text):
    """Lower case, every run of non-word characters one space."""
    return _NON_WORD_RE.sub(' ', text.lower()).strip()


def key_of(message):
    """The key of a message (see the module's docstring), or None."""
    pieces = [normalise(p) for p in
              _PLACEHOLDER_RE.split(message.replace('%%', '%'))]
    pieces = [p.split() for p in pieces if p]
    if not pieces:
        return None
    return ' '.join(max(pieces, key=len)[:KEY_WORDS])


def _literal(node):
    """The string a message expression starts from, or None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return _literal(node.left)
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == 'format'):
        return _literal(node.func.value)
    return None


def _callee_name(call):
    func = call.func
    if isinstance(func, ast.Name):
        return None, func.id
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return func.value.id, func.attr
    if isinstance(func, ast.Attribute):
        return '', func.attr
    return None, None


class _Collector(ast.NodeVisitor):
    """Collects the messages of one module's tree."""

    def __init__(self, describing, local_exceptions):
        self.describing = describing
        self.local_exceptions = local_exceptions
        self.exception_aliases = set()
        self.skip = set()
        self.messages = []
        self.function_depth = 0

    def add(self, node):
        text = _literal(node)
        if text is not None:
            self.messages.append((node.lineno, text))

    def visit_Import(self, node):
        for alias in node.names:
            if alias.name.rsplit('.', 1)[-1] in _EXCEPTION_MODULES:
                self.exception_aliases.add(alias.asname or alias.name)

    def visit_ImportFrom(self, node):
        for alias in node.names:
            if alias.name in _EXCEPTION_MODULES:
                self.exception_aliases.add(alias.asname or alias.name)

    def visit_Assign(self, node):
        names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        if (self.function_depth == 0
                and any(n.endswith('PROPERTIES') for n in names)
                and isinstance(node.value, ast.Dict)):
            for value in node.value.values:
                self.skip.add(id(value))
        self.generic_visit(node)

    def visit_FunctionDef(self, node):
        self.function_depth += 1
        self.generic_visit(node)
        self.function_depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Return(self, node):
        if self.describing and self.function_depth and node.value:
            values = [node.value]
            while values:
                value = values.pop()
                if isinstance(value, ast.BoolOp):
                    values.extend(value.values)
                elif isinstance(value, ast.IfExp):
                    values.extend((value.body, value.orelse))
                else:
                    self.add(value)
        self.generic_visit(node)

    def visit_Call(self, node):
        owner, name = _callee_name(node)
        args = []
        if name == '_' and owner is None:
            if id(node) not in self.skip:
                args = node.args[:1]
        elif name == 'node_history_record':
            args = [k.value for k in node.keywords if k.arg == 'event']
        elif ((owner in self.exception_aliases and owner)
              or (owner is None and name in self.local_exceptions)):
            args = node.args[:1] + [
                k.value for k in node.keywords
                if k.arg in ('message', 'reason', 'event')]
        for arg in args:
            self.add(arg)
        self.generic_visit(node)


def _local_exceptions(tree):
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for b in node.bases:
                base_name = (b.id if isinstance(b, ast.Name) else
                             b.attr if isinstance(b, ast.Attribute) else '')
                if _EXCEPTION_BASE_RE.search(base_name) or base_name in names:
                    names.add(node.name)
    return names


def messages_of_source(source, describing=False):
    """The messages of a module's source: a list of (line, text)."""
    tree = ast.parse(source)
    collector = _Collector(describing, _local_exceptions(tree))
    # _() values of *PROPERTIES dicts are marked before they are seen.
    for node in tree.body:
        if isinstance(node, ast.Assign):
            collector.visit_Assign(node)
    collector.messages = []
    collector.visit(tree)
    seen, result = set(), []
    for line, text in collector.messages:
        if (line, text) not in seen:
            seen.add((line, text))
            result.append((line, text))
    return result


def module_paths():
    """The scanned modules: a list of paths relative to the package."""
    paths = []
    for pattern in MESSAGE_MODULES:
        if pattern.endswith('/*.py'):
            directory = pattern[:-len('/*.py')]
            paths.extend(sorted(
                os.path.join(directory, f)
                for f in os.listdir(os.path.join(PACKAGE_DIR, directory))
                if f.endswith('.py')))
        else:
            paths.append(pattern)
    return paths


def code_messages():
    """Every message of the code: a list of (module, line, text, key)."""
    found = []
    for path in module_paths():
        with open(os.path.join(PACKAGE_DIR, path)) as f:
            source = f.read()
        for line, text in messages_of_source(
                source, describing=path in DESCRIBING_MODULES):
            key = key_of(text)
            if key and (path, key) not in NOT_FOR_NODES:
                found.append((path, line, text, key))
    return found


def page_literals(page_text):
    """The page's inline literals (````...````), each normalised."""
    return [' %s ' % normalise(m)
            for m in _LITERAL_RE.findall(page_text)]


def missing_keys(page_text, messages):
    """The messages whose key the page lacks: a sorted list of (key, module).

    :param page_text: the page's reStructuredText.
    :param messages: (module, line, text, key) tuples.
    """
    literals = page_literals(page_text)
    return sorted({(key, '%s:%d' % (module, line))
                   for module, line, _text, key in messages
                   if not any(' %s ' % key in lit for lit in literals)})


def entries_without_answers(page_text):
    """The titles of the page's entries that lack a meaning or an action.

    An entry is a section underlined with ``-``; it must hold
    ``**What it means:**`` and ``**What to do:**``.
    """
    lines = page_text.splitlines()
    starts = [i - 1 for i, line in enumerate(lines)
              if i and line and set(line) == {'-'}
              and len(line) == len(lines[i - 1])]
    bad = []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        body = '\n'.join(lines[start:end])
        if ('**What it means:**' not in body
                or '**What to do:**' not in body):
            bad.append(lines[start])
    return bad


def report(missing):
    return ('The troubleshooting page (doc/source/admin/'
            'troubleshooting.rst) has no entry for these messages (key, '
            'module:line); add one per doc/source/contributor/'
            'testing.rst:\n' + '\n'.join('  %r  %s' % m for m in missing))


class TroubleshootingPageTestCase(base.BaseTestCase):

    def test_page_documents_every_message(self):
        with open(PAGE) as f:
            page = f.read()
        missing = missing_keys(page, code_messages())
        if missing:
            self.fail(report(missing))

    def test_every_entry_says_what_it_means_and_what_to_do(self):
        with open(PAGE) as f:
            page = f.read()
        self.assertGreater(page.count('**What to do:**'), 30)
        self.assertEqual([], entries_without_answers(page))
        self.assertEqual(['Half an entry'], entries_without_answers(
            'Half an entry\n-------------\n\n- ``A message.``\n\n'
            '**What it means:** Something.\n\n'
            'Whole\n-----\n\n**What it means:** a.\n**What to do:** b.\n'))

    def test_the_scan_finds_the_known_kinds_of_message(self):
        found = {(module, key) for module, _l, _t, key in code_messages()}
        for expected in [
                # _() in a driver module.
                ('drivers/modules/keylime/driver_info.py',
                 'the keylime attestation interface needs the lists set '
                 'driver_info keylime_container'),
                # An exception of the Keylime client, without _().
                ('keylime_client/tenant.py',
                 'install keylime s tenant on the conductor and set'),
                # A list error.
                ('lists/prepare.py', 'has no entries digest path lines an '
                 'empty allowlist cannot'),
                # A refusal of the API.
                ('ironic_integration/names.py', 'or default '
                 'default_attestation_interface instance_info may select an '
                 'attestation interface for'),
                # A description of a Keylime event returned by events.py.
                ('keylime_client/events.py',
                 'differs from every value the tpm policy allows')]:
            self.assertIn(expected, found)
        # The driver_info property help is not a message.
        self.assertEqual([], [key for _m, key in found
                              if key.startswith('address ipv4 ipv6')])

    def test_an_empty_page_fails(self):
        messages = code_messages()
        self.assertGreater(len(messages), 100)
        self.assertEqual(len({(m[3], '%s:%d' % (m[0], m[1]))
                              for m in messages}),
                         len(missing_keys('', messages)))

    def test_a_new_undocumented_message_is_reported(self):
        source = textwrap.dedent('''
            from ironic_keylime.common import exception as kl_exc
            from ironic_keylime.common.i18n import _
            from ironic_keylime.keylime_client import exception

            PROPERTIES = {'keylime_x': _('Help, not a message.')}

            class LocalError(Exception):
                pass

            def f(node):
                raise kl_exc.AttestationFailure(
                    node=node, reason=_('the frobnicator %(x)s is '
                                        'broken') % {'x': 1})

            def g():
                raise exception.KeylimeError(
                    'The verifier %s sent a bad quote.' % 'v')

            def h():
                raise LocalError('%s: local trouble here' % 1)

            def i(node):
                node_history_record(node, event='%s history event said')
            ''')
        messages = [('synthetic.py', line, text, key_of(text))
                    for line, text in messages_of_source(source)]
        page = textwrap.dedent('''
            ``The verifier <v> sent a bad quote.``
              Meaning: the frobnicator is broken (prose does not count).
            ''')
        # The documented message and the property help are not reported;
        # every other kind of message is, with its module and line.
        self.assertEqual(
            [('history event said', 'synthetic.py:24'),
             ('local trouble here', 'synthetic.py:21'),
             ('the frobnicator', 'synthetic.py:13')],
            missing_keys(page, messages))
        self.assertIn("'the frobnicator'  synthetic.py:13",
                      report(missing_keys(page, messages)))

    def test_keys(self):
        # The piece with the most words, not the first.
        self.assertEqual('sent a bad quote',
                         key_of('The verifier %(v)s sent a bad quote.'))
        self.assertEqual('did not answer within',
                         key_of('%s did not answer within %s s.'))
        self.assertEqual('invalid driver_info',
                         key_of('Invalid driver_info/%(key)s %(value)r: '))
        self.assertIsNone(key_of('%s: %s'))
        self.assertEqual('a b c d e f g h i j',
                         key_of('a b c d e f g h i j k l'))


if __name__ == '__main__':
    for m in code_messages():
        print('%s:%d\t%s\t%r' % m)
