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

"""Untrusted values made safe for log lines and messages."""

from oslotest import base

from ironic_keylime.common import untrusted


class TextTestCase(base.BaseTestCase):

    def test_printable_text_unchanged(self):
        self.assertEqual('10.0.0.7 port 9002', untrusted.text(
            '10.0.0.7 port 9002'))
        self.assertEqual('Zürich', untrusted.text('Zürich'))

    def test_unprintable_characters_escaped(self):
        for raw, shown in [('a\nb', 'a\\nb'), ('a\r\nb', 'a\\r\\nb'),
                           ('\x1b[31m', '\\x1b[31m'), ('\x00', '\\x00'),
                           ('\x7f', '\\x7f'), ('\x85', '\\x85'),
                           ('\u2028', '\\u2028'), ('\u202e', '\\u202e')]:
            self.assertEqual(shown, untrusted.text(raw))
            self.assertTrue(untrusted.text(raw).isprintable())

    def test_bounded(self):
        self.assertEqual('x' * 120 + '...', untrusted.text('x' * 10 ** 6))
        self.assertEqual('abc...', untrusted.text('abcdef', limit=3))
        # Escapes count: the result stays bounded.
        self.assertEqual('\\x00\\x0...',
                         untrusted.text('\x00' * 50, limit=7))

    def test_other_values_as_repr(self):
        self.assertEqual('None', untrusted.text(None))
        self.assertEqual("['a\\n']", untrusted.text(['a\n']))
        self.assertEqual('42', untrusted.text(42))
