// The guide's config_hardware.py read as data: a tokenizer and a recursive-descent parser for `NAME = literal` lines.
// Nothing in the file is run, imported or looked up; anything that is not a literal is refused with its line:column.

/** A Python literal as JSON sees it: tuples become arrays, dicts objects (string keys only). */
export type PyValue = number | string | boolean | null | PyValue[] | { [key: string]: PyValue };

export interface PyAssignment {
  name: string;
  value: PyValue;
  /** 1-based position of the name. */
  line: number;
  column: number;
}

export interface PyConfig {
  assignments: PyAssignment[];
  /** `line:column: what is wrong`, in file order; empty when the whole file was read. */
  problems: string[];
}

// Deep enough for any hardware file; shallow enough that `[[[[…` cannot exhaust the stack.
const MAX_DEPTH = 64;

const KEYWORDS = new Set(
  'False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield'.split(
    ' ',
  ),
);
// Longest first, so `**=` is one token and `=` after a name is never half of `==`.
const OPERATORS = [
  '**=',
  '//=',
  '>>=',
  '<<=',
  '...',
  '->',
  ':=',
  '==',
  '!=',
  '<=',
  '>=',
  '**',
  '//',
  '<<',
  '>>',
  '+=',
  '-=',
  '*=',
  '/=',
  '%=',
  '&=',
  '|=',
  '^=',
  '@=',
  ...'()[]{},:;=.+-*/%@&|^~<>!'.split(''),
];
const OPENERS: Record<string, string> = { '(': ')', '[': ']', '{': '}' };
const CLOSERS = new Set([')', ']', '}']);

type TokenKind = 'name' | 'number' | 'string' | 'op' | 'newline' | 'eof';
interface Token {
  kind: TokenKind;
  text: string;
  value?: number | string;
  line: number;
  column: number;
  /** First token of a logical line that does not start in column 1. */
  indented?: boolean;
}

class SyntaxProblem extends Error {
  constructor(
    readonly line: number,
    readonly column: number,
    message: string,
  ) {
    super(message);
  }
}
/** A problem the lexer cannot read past: the read ends there. */
class LexProblem extends SyntaxProblem {}
/** A bracket never closed: what the parser made of the lines after it is noise. */
class UnclosedProblem extends LexProblem {}

const ID_START = /[\p{ID_Start}_]/uy;
const ID_CONTINUE = /[\p{ID_Continue}]*/uy;
const IS_ID_CHAR = /[\p{ID_Continue}]/u;
const DIGITS = '\\d(?:_?\\d)*';
const NUMBER_FORMS: [string, RegExp][] = [
  ['hexadecimal', /0[xX](?:_?[0-9a-fA-F])+/y],
  ['octal', /0[oO](?:_?[0-7])+/y],
  ['binary', /0[bB](?:_?[01])+/y],
  [
    'float',
    new RegExp(`(?:(?:${DIGITS})?\\.${DIGITS}|${DIGITS}\\.)(?:[eE][+-]?${DIGITS})?|${DIGITS}[eE][+-]?${DIGITS}`, 'y'),
  ],
  ['decimal', /[1-9](?:_?\d)*|0(?:_?0)*/y],
];
const SIMPLE_ESCAPES: Record<string, string> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};

/** Splits the text into tokens on demand; a lexical error throws and ends the read. */
class Lexer {
  private i = 0;
  private line = 1;
  private lineStart = 0;
  private lineHasTokens = false;
  private readonly brackets: { char: string; line: number; column: number }[] = [];
  private done = false;

  constructor(private readonly text: string) {
    if (text.startsWith('\uFEFF')) {
      this.i = 1;
      this.lineStart = 1;
    }
  }

  private column(at = this.i): number {
    return at - this.lineStart + 1;
  }

  private fail(message: string, line = this.line, column = this.column()): never {
    throw new LexProblem(line, column, message);
  }

  /** Consumes one line break (\n, \r\n or \r) at i. */
  private newline(): void {
    if (this.text[this.i] === '\r' && this.text[this.i + 1] === '\n') this.i++;
    this.i++;
    this.line++;
    this.lineStart = this.i;
  }

  private token(kind: TokenKind, start: number, line: number, column: number, value?: number | string): Token {
    const t: Token = { kind, text: this.text.slice(start, this.i), line, column, value };
    if (!this.lineHasTokens && (kind === 'name' || kind === 'number' || kind === 'string' || kind === 'op')) {
      t.indented = column > 1;
      this.lineHasTokens = true;
    }
    return t;
  }

  next(): Token {
    const { text } = this;
    for (;;) {
      if (this.done) return { kind: 'eof', text: '', line: this.line, column: this.column() };
      const c = text[this.i];
      if (c === undefined) {
        const open = this.brackets.at(-1);
        if (open) throw new UnclosedProblem(open.line, open.column, `'${open.char}' is never closed`);
        if (this.lineHasTokens) {
          this.lineHasTokens = false;
          return { kind: 'newline', text: '', line: this.line, column: this.column() };
        }
        this.done = true;
        continue;
      }
      if (c === '\n' || c === '\r') {
        const at = { line: this.line, column: this.column() };
        this.newline();
        if (this.brackets.length === 0 && this.lineHasTokens) {
          this.lineHasTokens = false;
          return { kind: 'newline', text: '', ...at };
        }
        continue;
      }
      if (c === ' ' || c === '\t' || c === '\f') {
        this.i++;
        continue;
      }
      if (c === '#') {
        while (this.i < text.length && text[this.i] !== '\n' && text[this.i] !== '\r') this.i++;
        continue;
      }
      if (c === '\\') {
        const after = text[this.i + 1];
        if (after !== '\n' && after !== '\r')
          this.fail('a backslash outside a string must end its line (continuation)');
        this.i++;
        this.newline();
        continue;
      }
      return this.scan();
    }
  }

  private scan(): Token {
    const { text } = this;
    const start = this.i;
    const line = this.line;
    const column = this.column();
    const c = text[start] as string;
    if (/\d/.test(c) || (c === '.' && /\d/.test(text[start + 1] ?? ''))) return this.number(start, line, column);
    ID_START.lastIndex = start;
    if (ID_START.test(text)) {
      ID_CONTINUE.lastIndex = ID_START.lastIndex;
      ID_CONTINUE.test(text);
      this.i = ID_CONTINUE.lastIndex;
      const word = text.slice(start, this.i);
      const quote = text[this.i];
      if ((quote === "'" || quote === '"') && /^(?:[rRuUbBfFtT]|[bBfFtT][rR]|[rR][bBfFtT])$/.test(word))
        return this.string(word.toLowerCase(), start, line, column);
      return this.token('name', start, line, column);
    }
    if (c === "'" || c === '"') return this.string('', start, line, column);
    const op = OPERATORS.find((o) => text.startsWith(o, start));
    if (op) {
      this.i += op.length;
      if (op in OPENERS) this.brackets.push({ char: op, line, column });
      else if (CLOSERS.has(op)) {
        const open = this.brackets.pop();
        if (!open) this.fail(`'${op}' closes nothing`, line, column);
        if (OPENERS[open.char] !== op)
          this.fail(`'${op}' does not match '${open.char}' at ${open.line}:${open.column}`, line, column);
      }
      return this.token('op', start, line, column);
    }
    const code = text.codePointAt(start) ?? 0;
    return this.fail(
      `invalid character ${JSON.stringify(String.fromCodePoint(code))} (U+${code.toString(16).toUpperCase().padStart(4, '0')})`,
    );
  }

  private number(start: number, line: number, column: number): Token {
    const { text } = this;
    const radix = /^0[xXoObB]/.test(text.slice(start, start + 2)) ? (text[start + 1] as string).toLowerCase() : '';
    for (const [form, re] of NUMBER_FORMS) {
      if (radix && form[0] !== radix && !(radix === 'x' && form === 'hexadecimal')) continue;
      re.lastIndex = start;
      if (!re.test(text)) {
        if (radix) this.fail(`invalid ${form} literal`);
        continue;
      }
      this.i = re.lastIndex;
      const after = text[this.i] ?? '';
      if (after === 'j' || after === 'J') this.fail('complex numbers are not read', line, column);
      if (form === 'decimal' && /\d/.test(after))
        this.fail('leading zeros in a decimal integer are not allowed (write 0o… for octal)', line, column);
      if (after !== '' && IS_ID_CHAR.test(after)) this.fail(`invalid ${form} literal`, line, column);
      const digits = text.slice(start, this.i).replaceAll('_', '');
      let value: number;
      if (form === 'float') {
        value = Number(digits);
        if (!Number.isFinite(value)) this.fail('this number is too large', line, column);
      } else {
        const big = form === 'decimal' ? BigInt(digits) : BigInt(digits.toLowerCase());
        if (big > BigInt(Number.MAX_SAFE_INTEGER))
          this.fail(`this integer is too large (at most ${Number.MAX_SAFE_INTEGER})`, line, column);
        value = Number(big);
      }
      return this.token('number', start, line, column, value);
    }
    return this.fail('invalid number');
  }

  private string(prefix: string, start: number, line: number, column: number): Token {
    if (prefix.includes('f'))
      this.fail("f-strings are not read: they run the code in their braces; write a plain 'string'", line, column);
    if (prefix.includes('t'))
      this.fail(
        "template strings are not read: they run the code in their braces; write a plain 'string'",
        line,
        column,
      );
    if (prefix.includes('b')) this.fail("bytes literals are not read; write a plain 'string'", line, column);
    const { text } = this;
    const raw = prefix.includes('r');
    this.i = start + prefix.length;
    const quote = text[this.i] as string;
    const triple = text.startsWith(quote.repeat(3), this.i);
    this.i += triple ? 3 : 1;
    let out = '';
    for (;;) {
      const c = text[this.i];
      if (c === undefined)
        this.fail(
          triple ? 'this triple-quoted string is never closed' : 'this string is not closed on its line',
          line,
          column,
        );
      if (triple ? text.startsWith(quote.repeat(3), this.i) : c === quote) {
        this.i += triple ? 3 : 1;
        return this.token('string', start, line, column, out);
      }
      if (c === '\n' || c === '\r') {
        if (!triple) this.fail('this string is not closed on its line', line, column);
        this.newline();
        out += '\n';
        continue;
      }
      if (c !== '\\') {
        out += c;
        this.i++;
        continue;
      }
      const d = text[this.i + 1];
      if (d === undefined)
        this.fail(
          triple ? 'this triple-quoted string is never closed' : 'this string is not closed on its line',
          line,
          column,
        );
      if (d === '\n' || d === '\r') {
        // Backslash-newline: removed in a plain string, kept as both characters in a raw one.
        this.i++;
        this.newline();
        if (raw) out += '\\\n';
        continue;
      }
      if (raw) {
        out += `\\${d}`;
        this.i += 2;
        continue;
      }
      out += this.escape(d);
    }
  }

  /** One escape after the backslash at i; advances past it. */
  private escape(d: string): string {
    const { text } = this;
    const at = this.column();
    const simple = SIMPLE_ESCAPES[d];
    if (simple !== undefined) {
      this.i += 2;
      return simple;
    }
    if (/[0-7]/.test(d)) {
      const m = /[0-7]{1,3}/y;
      m.lastIndex = this.i + 1;
      m.test(text);
      const code = Number.parseInt(text.slice(this.i + 1, m.lastIndex), 8);
      this.i = m.lastIndex;
      return String.fromCodePoint(code);
    }
    const width = { x: 2, u: 4, U: 8 }[d];
    if (width !== undefined) {
      const hex = text.slice(this.i + 2, this.i + 2 + width);
      if (!new RegExp(`^[0-9a-fA-F]{${width}}$`).test(hex))
        this.fail(`\\${d} must be followed by ${width} hex digits`, this.line, at);
      const code = Number.parseInt(hex, 16);
      if (code > 0x10ffff) this.fail(`\\${d}${hex} is not a Unicode character`, this.line, at);
      this.i += 2 + width;
      return String.fromCodePoint(code);
    }
    if (d === 'N') this.fail('\\N{…} escapes are not read; write the character itself', this.line, at);
    // Python keeps an unknown escape as it is (and warns).
    this.i += 2;
    return `\\${d}`;
  }
}

function describe(t: Token): string {
  switch (t.kind) {
    case 'eof':
      return 'the end of the file';
    case 'newline':
      return 'the end of the line';
    case 'string':
      return 'a string';
    case 'number':
      return t.text;
    default:
      return `'${t.text}'`;
  }
}

const BINARY_OPERATORS = new Set([
  '+',
  '-',
  '*',
  '/',
  '//',
  '%',
  '**',
  '@',
  '<<',
  '>>',
  '&',
  '|',
  '^',
  '<',
  '>',
  '<=',
  '>=',
  '==',
  '!=',
]);

class Parser {
  private readonly buffer: Token[] = [];

  constructor(private readonly lexer: Lexer) {}

  private peek(ahead = 0): Token {
    while (this.buffer.length <= ahead) this.buffer.push(this.lexer.next());
    return this.buffer[ahead] as Token;
  }

  private take(): Token {
    const t = this.peek();
    this.buffer.shift();
    return t;
  }

  private fail(t: Token, message: string): never {
    throw new SyntaxProblem(t.line, t.column, message);
  }

  private isOp(t: Token, ...ops: string[]): boolean {
    return t.kind === 'op' && ops.includes(t.text);
  }

  read(problems: SyntaxProblem[]): PyAssignment[] {
    const assignments: PyAssignment[] = [];
    for (;;) {
      try {
        const t = this.peek();
        if (t.kind === 'eof') break;
        if (t.kind === 'newline') {
          this.take();
          continue;
        }
        assignments.push(this.statement());
      } catch (err) {
        if (!(err instanceof SyntaxProblem)) throw err;
        problems.push(err);
        if (err instanceof LexProblem || !this.skipStatement(problems)) break;
      }
    }
    return assignments;
  }

  /** After a problem: on to the next logical line. False when the lexer cannot go on (its problem is recorded). */
  private skipStatement(problems: SyntaxProblem[]): boolean {
    try {
      for (;;) {
        const t = this.take();
        if (t.kind === 'eof') return false;
        if (t.kind === 'newline') return true;
      }
    } catch (err) {
      if (!(err instanceof SyntaxProblem)) throw err;
      problems.push(err);
      return false;
    }
  }

  private statement(): PyAssignment {
    const t = this.take();
    if (t.indented) this.fail(t, 'unexpected indentation: each NAME = value line starts in column 1');
    if (t.kind === 'string')
      this.fail(t, 'a bare string (such as a docstring) is not read: make it a # comment, or NAME = value');
    if (t.kind !== 'name') this.fail(t, `expected NAME = value, found ${describe(t)}`);
    if (t.text === 'import' || t.text === 'from')
      this.fail(t, 'imports are not read (nothing in this file is run): remove the line');
    if (t.text === 'class')
      this.fail(
        t,
        'a class is not read: write NAME = value lines at the top level, as the deployment guide’s config_hardware.py does',
      );
    if (KEYWORDS.has(t.text))
      this.fail(t, `'${t.text}' statements are not read: only NAME = value lines are (nothing in this file is run)`);
    const eq = this.peek();
    if (!this.isOp(eq, '=')) {
      if (this.isOp(eq, '('))
        this.fail(t, `${t.text}(…) is a call: calls are never run; only NAME = value lines are read`);
      if (this.isOp(eq, ':')) this.fail(eq, `annotations are not read: write ${t.text} = value`);
      if (eq.kind === 'op' && eq.text.endsWith('=') && eq.text.length > 1)
        this.fail(eq, `'${eq.text}' is not read: write ${t.text} = value`);
      this.fail(eq, `expected '=' after ${t.text}, found ${describe(eq)}`);
    }
    this.take();
    let value = this.value(0);
    // `NAME = 1, 2` is a tuple, as in Python.
    if (this.isOp(this.peek(), ',')) {
      const items = [value];
      while (this.isOp(this.peek(), ',')) {
        this.take();
        if (this.atStatementEnd()) break;
        items.push(this.value(0));
      }
      value = items;
    }
    const end = this.peek();
    if (this.isOp(end, '=')) this.fail(end, 'chained assignment is not read: one name per line');
    if (!this.atStatementEnd())
      this.fail(end, `expected the end of the line after the value of ${t.text}, found ${describe(end)}`);
    // Python allows `A = 1; B = 2` and a trailing `;`.
    if (this.isOp(end, ';')) this.take();
    return { name: t.text, value, line: t.line, column: t.column };
  }

  private atStatementEnd(): boolean {
    const t = this.peek();
    return t.kind === 'newline' || t.kind === 'eof' || this.isOp(t, ';');
  }

  private value(depth: number): PyValue {
    if (depth > MAX_DEPTH) this.fail(this.peek(), `values nested deeper than ${MAX_DEPTH} levels are not read`);
    const v = this.atom(depth);
    const t = this.peek();
    if (this.isOp(t, '(')) this.fail(t, 'calls are never run: write the value itself');
    if (this.isOp(t, '.')) this.fail(t, 'attributes are not read: write the value itself');
    if (this.isOp(t, '[')) this.fail(t, 'indexing is not read: write the value itself');
    if (t.kind === 'op' && BINARY_OPERATORS.has(t.text))
      this.fail(t, `operators are not evaluated ('${t.text}'): write the resulting value`);
    if (t.kind === 'name' && KEYWORDS.has(t.text))
      this.fail(t, `'${t.text}' is not read: only literal values are (nothing in this file is run)`);
    return v;
  }

  private atom(depth: number): PyValue {
    const t = this.take();
    if (this.isOp(t, '-', '+')) {
      const n = this.take();
      if (n.kind !== 'number') this.fail(n, `a sign must be followed by a number, found ${describe(n)}`);
      return t.text === '-' ? -(n.value as number) : (n.value as number);
    }
    if (t.kind === 'number') return t.value as number;
    if (t.kind === 'string') {
      // Adjacent strings are one string, as in Python.
      let s = t.value as string;
      while (this.peek().kind === 'string') s += this.take().value as string;
      return s;
    }
    if (t.kind === 'name') {
      if (t.text === 'True') return true;
      if (t.text === 'False') return false;
      if (t.text === 'None') return null;
      if (this.isOp(this.peek(), '=')) this.fail(t, 'chained assignment is not read: one name per line');
      if (this.isOp(this.peek(), '('))
        this.fail(t, `${t.text}(…) is a call: calls are never run; write the value itself`);
      if (KEYWORDS.has(t.text))
        this.fail(t, `'${t.text}' is not read: only literal values are (nothing in this file is run)`);
      this.fail(t, `${t.text} is a name, not a value: only literals are read (nothing is looked up)`);
    }
    if (this.isOp(t, '[')) return this.sequence(']', depth);
    if (this.isOp(t, '(')) {
      if (this.isOp(this.peek(), ')')) {
        this.take();
        return [];
      }
      const first = this.value(depth + 1);
      if (this.isOp(this.peek(), ')')) {
        this.take();
        return first;
      }
      this.expectAfterItem(',', ')', this.peek());
      this.take();
      return [first, ...this.sequence(')', depth)];
    }
    if (this.isOp(t, '{')) return this.dict(depth);
    return this.fail(
      t,
      `expected a value (a number, a 'string', True, False, None, a [list], a (tuple) or a {dict}), found ${describe(t)}`,
    );
  }

  private expectAfterItem(sep: string, close: string, t: Token): void {
    if (!this.isOp(t, sep, close)) this.fail(t, `expected '${sep}' or '${close}', found ${describe(t)}`);
  }

  /** Items up to `close` (the opener is taken); a trailing comma is allowed. */
  private sequence(close: string, depth: number): PyValue[] {
    const items: PyValue[] = [];
    for (;;) {
      if (this.isOp(this.peek(), close)) {
        this.take();
        return items;
      }
      if (this.isOp(this.peek(), '*', '**')) this.fail(this.peek(), 'unpacking is not read: write the items');
      items.push(this.value(depth + 1));
      const t = this.peek();
      if (t.kind === 'name' && t.text === 'for') this.fail(t, 'comprehensions are not read: write the items');
      this.expectAfterItem(',', close, t);
      if (this.isOp(t, ',')) this.take();
    }
  }

  private dict(depth: number): { [key: string]: PyValue } {
    const entries: [string, PyValue][] = [];
    const seen = new Map<string, Token>();
    for (;;) {
      if (this.isOp(this.peek(), '}')) {
        this.take();
        return Object.fromEntries(entries);
      }
      if (this.isOp(this.peek(), '**')) this.fail(this.peek(), 'unpacking is not read: write the entries');
      const keyToken = this.peek();
      const key = this.value(depth + 1);
      const colon = this.peek();
      if (!this.isOp(colon, ':')) {
        if (entries.length === 0 && this.isOp(colon, ',', '}'))
          this.fail(keyToken, 'sets are not read: write a [list] or a {key: value} dict');
        this.fail(colon, `expected ':' after the key, found ${describe(colon)}`);
      }
      if (typeof key !== 'string')
        this.fail(
          keyToken,
          `dict keys must be strings: write ${JSON.stringify(String(key)).replaceAll('"', "'")}, not ${keyToken.text}`,
        );
      const before = seen.get(key);
      if (before) this.fail(keyToken, `key '${key}' is given twice (also at ${before.line}:${before.column})`);
      seen.set(key, keyToken);
      this.take();
      entries.push([key, this.value(depth + 1)]);
      const t = this.peek();
      if (t.kind === 'name' && t.text === 'for') this.fail(t, 'comprehensions are not read: write the entries');
      this.expectAfterItem(',', '}', t);
      if (this.isOp(t, ',')) this.take();
    }
  }
}

/**
 * Reads a Python module made only of `NAME = literal` lines (comments and blank lines aside), the way
 * `ast.literal_eval` would read each value. Never runs anything: imports, calls, names, operators, f-strings,
 * docstrings and every other statement are problems naming their line and column.
 */
export function parsePyConfig(text: string): PyConfig {
  let problems: SyntaxProblem[] = [];
  const assignments = new Parser(new Lexer(text)).read(problems);
  const unclosed = problems.find((p) => p instanceof UnclosedProblem);
  if (unclosed)
    problems = problems.filter(
      (p) => p === unclosed || p.line < unclosed.line || (p.line === unclosed.line && p.column < unclosed.column),
    );
  const first = new Map<string, PyAssignment>();
  for (const a of assignments) {
    const before = first.get(a.name);
    if (before)
      problems.push(new SyntaxProblem(a.line, a.column, `${a.name} is assigned twice (first at line ${before.line})`));
    else first.set(a.name, a);
  }
  problems.sort((a, b) => a.line - b.line || a.column - b.column);
  return { assignments, problems: problems.map((p) => `${p.line}:${p.column}: ${p.message}`) };
}
