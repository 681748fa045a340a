// Generate tests/data/tokenizer/gpt2_golden.json: GPT-2 token ids from an independent
// implementation, the npm package gpt-3-encoder (a JavaScript port of OpenAI's encoder.py).
// Not run by the tests. Usage (from the repository root):
//   mkdir -p /tmp/gpt3enc && (cd /tmp/gpt3enc && npm init -y && npm install gpt-3-encoder)
//   NODE_PATH=/tmp/gpt3enc/node_modules node scripts/golden/gpt2_tokenizer_golden.js \
//       ../shared/tokenizers/gpt2 > tests/data/tokenizer/gpt2_golden.json
// The script checks that the package's bundled encoder.json / vocab.bpe are byte-identical
// to the shared vocab.json / merges.txt. gpt-3-encoder does not treat <|endoftext|> as a
// special token, so no string here contains it (the tests check it separately). Strings
// with code points where JavaScript's \s differs from PCRE2's and Python regex's
// (U+0085, U+180E, U+FEFF) are left out as well.
'use strict';
const fs = require('fs');
const path = require('path');
const enc = require('gpt-3-encoder');

const shared = process.argv[2] || '../shared/tokenizers/gpt2';
const pkg = path.dirname(require.resolve('gpt-3-encoder'));
for (const [a, b] of [['encoder.json', 'vocab.json'], ['vocab.bpe', 'merges.txt']]) {
  if (!fs.readFileSync(path.join(pkg, a)).equals(fs.readFileSync(path.join(shared, b)))) {
    console.error(`gpt-3-encoder's ${a} differs from ${shared}/${b}`);
    process.exit(1);
  }
}

const strings = [];
const add = (...xs) => { for (const x of xs) strings.push(x); };

// English sentences
add('Hello world', 'Hello, world!', ' The capital of France is', 'The capital of France is Paris.',
    'When Mary and John went to the store, John gave a drink to Mary',
    'When Mary and John went to the store, Mary gave a drink to',
    'The war lasted from the year 1732 to the year 17',
    'Once upon a time, there was a little girl named Lily.',
    'The quick brown fox jumps over the lazy dog.',
    'THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG',
    'Colorless green ideas sleep furiously.',
    'To be, or not to be, that is the question:',
    'It was the best of times, it was the worst of times.',
    'Call me Ishmael. Some years ago—never mind how long precisely—',
    'She sells sea shells by the sea shore.',
    'Automated circuit discovery finds the subgraph of a model that matters.',
    'antidisestablishmentarianism', 'pneumonoultramicroscopicsilicovolcanoconiosis',
    'supercalifragilisticexpialidocious', 'a', 'I', ' a', 'A', 'ab', '!', '?!', '...', '—', '',
    'Mr. Smith went to Washington D.C. on Jan. 5th.',
    'e.g. i.e. etc. vs. a.m. p.m.', 'U.S.A.', 'Dr.Who', 'hello-world foo_bar baz/qux',
    'semi;colon:colon', '"quoted" text', '(parenthesised) [bracketed] {braced}', '<angle>',
    'snake_case_identifier', 'camelCaseIdentifier', 'PascalCaseIdentifier', 'SCREAMING_CASE');

// numbers and digit runs
add('0', '1', '12', '123', '1234', '12345', '1234567890', '00000000', '3.14159265358979',
    '1,000,000', '1 000 000', ' 2024', 'in 1999 and 2000', '-42', '+7', '1e-10', '6.02e23',
    '0x1F', '0b1010', '#ff00ff', '$19.99', '€100', '£5', '¥1000', '50%', '3/4', '1:30pm',
    '2024-01-15T12:34:56Z', '+1 (555) 123-4567', 'v1.2.3', 'IPv4 192.168.0.1',
    'x1y2z3', 'abc123def456', '99 bottles of beer', 'room 101', 'the 1st, 2nd, 3rd and 4th',
    '١٢٣٤', '१२३', '½ ¼ ¾', 'x² + y² = z²', 'Ⅻ Ⅳ', '①②③', '０１２３');

// code with indentation
add('def f(x):\n    return x + 1\n',
    'def main():\n    for i in range(10):\n        if i % 2 == 0:\n            print(i)\n',
    'int main(void) {\n\treturn 0;\n}\n',
    '#include <stdio.h>\n\nint main(int argc, char **argv) {\n    printf("%d\\n", argc);\n}\n',
    'for (size_t i = 0; i < n; i++) x[i] += y[i] * 2.0f;',
    'if (a && b || !c) { *p++ = q->r; }',
    '{"key": "value", "list": [1, 2, 3], "nested": {"a": null}}',
    '<html>\n  <body>\n    <p class="x">Hi</p>\n  </body>\n</html>',
    'SELECT * FROM users WHERE id = 42;',
    'x = [i**2 for i in range(10) if i % 3]',
    'const f = (a, b) => a + b; // arrow',
    '    indented four', '\tindented tab', '        eight spaces', '  two\n    four\n      six',
    'fn main() -> Result<(), Box<dyn Error>> {\n    Ok(())\n}',
    '$ ls -la | grep foo > out.txt 2>&1',
    'a == b != c <= d >= e', 'i += 1; j -= 2; k *= 3;', '/* comment */ // line comment',
    '```python\nprint("hi")\n```', 'https://example.com/path?query=1&x=y#frag',
    'user.name+tag@example.co.uk', '@mention #hashtag', '**bold** _italic_ `code`',
    '- item one\n- item two\n  - nested', '| a | b |\n|---|---|\n| 1 | 2 |');

// whitespace
add(' ', '  ', '   ', '    ', '\n', '\n\n', '\n\n\n', '\t', '\t\t', '\r\n', '\r\n\r\n', ' \n', '\n ',
    ' \n ', 'a  b', 'a   b', 'a    b', 'a\tb', 'a\t\tb', 'a \tb', 'a\nb', 'a\n\nb', 'a \n b',
    'trailing ', 'trailing  ', 'trailing   ', 'trailing\n', 'trailing \n', 'trailing\t',
    ' leading', '  leading', '   leading', '\nleading', '\tleading', 'line1\nline2\nline3',
    'para one.\n\npara two.', 'x\u000by\u000cz', 'end with spaces and newline   \n',
    'word     word', '  both  ', '\n\n  \n\t\n', 'tab\tseparated\tvalues\n',
    'a\u00a0b', 'a\u2003b', 'a\u3000b', 'a\u2028b', 'a \u00a0 b', '\u00a0\u00a0x');

// contractions
add("I'm", "I'M", "you're", "YOU'RE", "they've", "THEY'VE", "he'll", "HE'LL", "she'd", "SHE'D",
    "it's", "IT'S", "It'S", "don't", "DON'T", "can't", "won't", "isn't", "ain't", "y'all",
    "we'd've", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'VE", "'M", "'LL",
    "'D", "''", "'", "'''", "' s", "'sa", "'tis", "'twas", "O'Reilly", "rock 'n' roll",
    "John's book", "JOHN'S BOOK", "the cats' toys", "'quoted'", "it’s (curly)", "Let's go!",
    "I'd've thought", "He said 'hello' and left.", "ma'am", "'90s", "'ll've");

// Unicode letters in several scripts, accents, CJK, emoji, symbols
add('café', 'naïve', 'résumé', 'Ångström', 'façade', 'Zürich', 'São Paulo', 'Kraków', 'Øresund',
    'straße', 'İstanbul', 'ĳ', 'œuvre', 'Ελληνικά γράμματα', 'Привет, мир!', 'Русский текст',
    'Українська', 'ქართული', 'Հայերեն', 'עברית', 'مرحبا بالعالم', 'العربية', 'فارسی',
    'हिन्दी', 'বাংলা', 'தமிழ்', 'ไทย', 'ລາວ', 'မြန်မာ', 'ខ្មែរ', 'አማርኛ', 'ᏣᎳᎩ',
    '日本語のテキスト', 'カタカナ', 'ひらがな', '中文字符', '繁體中文', '한국어 텍스트', '漢字とかな',
    '你好，世界！', '東京タワー', 'Tiếng Việt', 'Ελλάδα 2024', 'e\u0301', 'a\u0308o\u0308u\u0308',
    'ﬁnancial', 'ＡＢＣ ａｂｃ', 'ℕ ℤ ℚ ℝ', 'ǅungla', 'ß', 'ſ', 'µ', 'ª º',
    '😀', '😀😃😄', '👍🏽', '👨‍👩‍👧', '🇫🇷', '🇺🇸🇬🇧', 'I ❤️ NY', 'emoji 🎉 party', '🤖:', '✨✨',
    '©®™', '→ ← ↑ ↓', '∑∫√∞', '≤≥≠', '•', '…', '“double”', '‘single’', '«guillemets»',
    '§ ¶ † ‡', '°C', '±', '×÷', '¿Qué?', '¡Hola!', '♠♣♥♦', '☃', '⌘⌥⇧', '█▓▒░', '─│┌┐',
    '\u200b', 'a\u200bb', 'a\u200db', '\u0001\u0002\u007f', 'bell\u0007', 'nul\u0000byte',
    '\u00ad', 'x\u00ady', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', '𝟙𝟚𝟛', '𐍈', 'Ｈｅｌｌｏ');

// mixed
add('The price is €100 (≈ $108) as of 2024-05-01.',
    'naïve café owners\' résumés—really?',
    'Mixing scripts: English, Русский, 日本語, and العربية in one line.',
    'Tweet: OMG 😂😂 this is sooo good!!! #blessed @friend',
    'E = mc² and F = ma; ∇·E = ρ/ε₀',
    'The 3 little pigs built 3 houses in 2,345 days.',
    'Error: file "C:\\Users\\me\\doc.txt" not found (code 0x80070002).',
    "  He said: \"I'm fine\",\tthen left.\n",
    'Ünïcödé ÀÉÎÕÜ àéîõü', 'MiXeD CaSe TeXt', 'Hello123World456', 'a1!b2@c3#',
    '!!!???...,,,;;;', '---===+++', '____', '~~~', '***', '////', '\\\\\\', '&&&|||',
    'def 日本(x): return x', 'λx.x', 'α + β = γ', '1 + 1 = 2 ✓', 'done.\n\n\n');

// variants of a few sentences: leading/trailing/duplicated spaces, upper case
const base = ['Hello world', 'the cat sat on the mat', "it's 5 o'clock", 'naïve café'];
for (const s of base) add(' ' + s, s + ' ', '  ' + s + '  ', s.replace(/ /g, '  '),
                          s.toUpperCase(), s + '\n', '\t' + s, s.replace(/ /g, '\n'));

// deterministic pseudo-random strings over a mixed alphabet
let seed = 12345;
const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
const alphabet = Array.from("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789     \n\t.,;:!?'\"()-_/" +
                            "éüßñçøåЖжλΩ中文日本한🙂€°²");
for (let k = 0; k < 120; k++) {
  const n = 1 + Math.floor(rnd() * 40);
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(rnd() * alphabet.length)];
  add(s);
}
// the alphabet of printable ASCII, and a long text
let ascii = '';
for (let c = 32; c < 127; c++) ascii += String.fromCharCode(c);
add(ascii, ascii.split('').join(' '));
add(strings.slice(0, 40).join(' '));

const bad = /[\u0085\u180e\ufeff]|<\|endoftext\|>/;
const seen = new Set();
const cases = [];
for (const s of strings) {
  if (bad.test(s) || seen.has(s)) continue;
  seen.add(s);
  const ids = enc.encode(s);
  if (enc.decode(ids) !== s) { console.error('round trip failed for ' + JSON.stringify(s)); process.exit(1); }
  cases.push({ text: s, ids });
}
process.stdout.write('{\n  "source": "npm gpt-3-encoder ' +
                     require(path.join(pkg, 'package.json')).version + '",\n  "cases": [\n' +
                     cases.map(c => '    ' + JSON.stringify(c)).join(',\n') + '\n  ]\n}\n');
console.error(`${cases.length} cases`);
