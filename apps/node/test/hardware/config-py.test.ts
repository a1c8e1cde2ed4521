// The guide's config_hardware.py read as data: every literal kind Python writes, and everything else refused by line.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePyConfig } from '../../src/hardware/config-py.js';
import { HardwareFileError, loadHardwareFile, readPyHardwareFile } from '../../src/hardware/hardware-file.js';
import { tempDir } from './support.js';

/** The values of a file that must read cleanly. */
function values(text: string): Record<string, unknown> {
  const { assignments, problems } = parsePyConfig(text);
  expect(problems).toEqual([]);
  return Object.fromEntries(assignments.map((a) => [a.name, a.value]));
}

/** The problems of a file that must not read. */
function problems(text: string): string[] {
  const result = parsePyConfig(text);
  expect(result.problems.length).toBeGreaterThan(0);
  return result.problems;
}

describe('config_hardware.py literals', () => {
  it('reads the deployment guide’s own file to the JSON it stands for', () => {
    const text = readFileSync(join(import.meta.dirname, 'fixtures/guide-config_hardware.py'), 'utf8');
    expect(values(text)).toEqual({
      INIT_COMPONENTS: {
        co2_sensor: true,
        temp_sensor: true,
        optical_density: true,
        eyespy_adc: true,
        pumps: true,
        stirrer: true,
        peltier_driver: true,
        led: false,
        ring_light: false,
      },
      CO2_SENSOR_TYPE: 'atlas',
      CO2_SENSOR_I2C_ADDRESS: 0x69,
      HARDWARE_MODE: 'real',
    });
  });

  it('reads integers in every base, with underscores and signs', () => {
    expect(
      values('A = 0x69\nB = 0X4a\nC = 0o17\nD = 0b1010_1010\nE = 1_000_000\nF = -3\nG = +7\nH = 0\nI = 00\nJ = 0x_7F'),
    ).toEqual({
      A: 105,
      B: 74,
      C: 15,
      D: 170,
      E: 1_000_000,
      F: -3,
      G: 7,
      H: 0,
      I: 0,
      J: 127,
    });
  });

  it('reads floats as Python writes them', () => {
    expect(values('A = 1.5\nB = .5\nC = 5.\nD = 1e7\nE = 1.5E-3\nF = 1_0.2_5\nG = -0.25\nH = 1.e2')).toEqual({
      A: 1.5,
      B: 0.5,
      C: 5,
      D: 1e7,
      E: 0.0015,
      F: 10.25,
      G: -0.25,
      H: 100,
    });
  });

  it('reads strings in both quote styles, raw, triple-quoted, escaped and implicitly joined', () => {
    const text = [
      `A = 'single'`,
      `B = "double"`,
      `C = 'it\\'s ' "a \\"quote\\""`,
      `D = r'\\d+\\n'`,
      `E = '\\x41\\u00e9\\U0001F600\\101\\t\\\\'`,
      `F = """two`,
      `lines"""`,
      `G = ('joined '`,
      `     'across lines')`,
      `H = u'unicode prefix'`,
      `I = 'unknown \\q escape kept'`,
      `J = 'µ°C'`,
      `K = '# not a comment'`,
    ].join('\n');
    expect(values(text)).toEqual({
      A: 'single',
      B: 'double',
      C: `it's a "quote"`,
      D: '\\d+\\n',
      E: 'A\u00e9\u{1F600}A\t\\',
      F: 'two\nlines',
      G: 'joined across lines',
      H: 'unicode prefix',
      I: 'unknown \\q escape kept',
      J: 'µ°C',
      K: '# not a comment',
    });
  });

  it('reads True, False, None, lists, tuples, dicts and nesting, with comments and trailing commas', () => {
    const text = `# a comment line
A = True   # trailing comment
B = False
C = None
D = [1, 'two', [3.0, None],]
E = (1,)
F = ()
G = (1)
H = 1, 2
I = {
    'inflow': {'serial': '00473498', 'steps_per_ml': 1e7},  # a pump
    'outflow': {'serial': '00473497', 'range': (0, 100)},
}
J = {}; K = []
L = 1 + \\
`;
    const bad = parsePyConfig(text);
    expect(bad.problems).toEqual([expect.stringMatching(/^15:7: operators are not evaluated/)]);
    expect(values(text.replace('L = 1 + \\\n', 'L = \\\n  1\n'))).toEqual({
      A: true,
      B: false,
      C: null,
      D: [1, 'two', [3, null]],
      E: [1],
      F: [],
      G: 1,
      H: [1, 2],
      I: {
        inflow: { serial: '00473498', steps_per_ml: 1e7 },
        outflow: { serial: '00473497', range: [0, 100] },
      },
      J: {},
      K: [],
      L: 1,
    });
  });

  it('reads CRLF line ends and a byte-order mark', () => {
    expect(values("\uFEFFA = {\r\n  'x': 1,\r\n}\r\nB = 'y'\r\n")).toEqual({ A: { x: 1 }, B: 'y' });
  });

  it('keeps a dict key __proto__ as an own key, as JSON.parse does', () => {
    const { A } = values("A = {'__proto__': {'polluted': True}}") as { A: Record<string, unknown> };
    expect(Object.hasOwn(A, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('names the line and column of what it cannot read, and what it expected', () => {
    expect(problems('A = [1 2]')).toEqual(["1:8: expected ',' or ']', found 2"]);
    expect(problems("A = {'x' 1}")).toEqual(["1:10: expected ':' after the key, found 1"]);
    expect(problems('A =')).toEqual([expect.stringMatching(/^1:4: expected a value .*found the end of the line/)]);
    expect(problems('A = [1,\nB = 2')).toEqual(["1:5: '[' is never closed"]);
    expect(problems('A = (1]')).toEqual(["1:7: ']' does not match '(' at 1:5"]);
    expect(problems("A = 'open")).toEqual(['1:5: this string is not closed on its line']);
    expect(problems('A = 0123')).toEqual([expect.stringMatching(/^1:5: leading zeros/)]);
    expect(problems('A = 0x')).toEqual(['1:5: invalid hexadecimal literal']);
    expect(problems('A = 0o9')).toEqual(['1:5: invalid octal literal']);
    expect(problems('A = 1j')).toEqual(['1:5: complex numbers are not read']);
    expect(problems('A = 2/3')).toEqual([expect.stringMatching(/^1:6: operators are not evaluated/)]);
    expect(problems('A = {1, 2}')).toEqual([expect.stringMatching(/^1:6: sets are not read/)]);
    expect(problems("A = {135: 'A0'}")).toEqual(["1:6: dict keys must be strings: write '135', not 135"]);
    expect(problems("A = {'x': 1, 'x': 2}")).toEqual(["1:14: key 'x' is given twice (also at 1:6)"]);
    expect(problems('A = 1\nA = 2')).toEqual(['2:1: A is assigned twice (first at line 1)']);
    expect(problems('  A = 1')).toEqual([expect.stringMatching(/^1:3: unexpected indentation/)]);
    expect(problems('A = B = 1')).toEqual([expect.stringMatching(/^1:5: chained assignment/)]);
    expect(problems('A += 1')).toEqual(["1:3: '+=' is not read: write A = value"]);
    expect(problems('A: int = 1')).toEqual(['1:2: annotations are not read: write A = value']);
    expect(problems('A = 12345678901234567890')).toEqual([expect.stringMatching(/^1:5: this integer is too large/)]);
    expect(problems('A = 1e999')).toEqual(['1:5: this number is too large']);
    expect(problems('A = $')).toEqual(['1:5: invalid character "$" (U+0024)']);
    expect(problems(`A = ${'['.repeat(100)}${']'.repeat(100)}`)[0]).toMatch(/nested deeper than 64/);
  });

  it('reports every statement it cannot read, not only the first', () => {
    expect(problems('import os\nA = 1\nB = x\nC = 2/3\n')).toEqual([
      expect.stringMatching(/^1:1: imports are not read/),
      expect.stringMatching(/^3:5: x is a name, not a value/),
      expect.stringMatching(/^4:6: operators are not evaluated/),
    ]);
  });

  it('refuses what the guide’s file does not contain: imports, docstrings, classes, other statements', () => {
    expect(problems('import os')).toEqual(['1:1: imports are not read (nothing in this file is run): remove the line']);
    expect(problems('from os import system')[0]).toMatch(/^1:1: imports are not read/);
    expect(problems('"""Hardware settings."""\nA = 1')[0]).toMatch(/^1:1: a bare string \(such as a docstring\)/);
    expect(problems('class HardwareConfig(Config):\n    A = 1')).toEqual([
      expect.stringMatching(/^1:1: a class is not read: write NAME = value lines at the top level/),
      expect.stringMatching(/^2:5: unexpected indentation/),
    ]);
    expect(problems('if True:\n    A = 1')[0]).toMatch(/^1:1: 'if' statements are not read/);
    expect(problems('A = lambda: 1')[0]).toMatch(/^1:5: 'lambda' is not read/);
    expect(problems('A = [x for x in y]')[0]).toMatch(/^1:6: x is a name/);
  });
});

describe('a hostile config_hardware.py', () => {
  const marker = () => join(tempDir(), 'ran');
  const hostile = (m: string) => [
    `__import__('os').system('touch ${m}')`,
    `A = __import__('os').system('touch ${m}')`,
    `A = open('${m}', 'w').write('x')`,
    `A = f"{__import__('os').system('touch ${m}')}"`,
    `A = F'{open("${m}", "w")}'`,
    `A = rf'{1}'`,
    `exec("open('${m}', 'w')")`,
    `A = eval("open('${m}', 'w')")`,
    `A = [open('${m}', 'w')]`,
    `A = {'k': __import__('os')}`,
    `A = (lambda: open('${m}', 'w'))()`,
    `A = os.system`,
    `A = b'bytes'`,
    `A = 1 if open('${m}', 'w') else 2`,
    `A = 1; import os`,
    `A = '\\N{BULLET}'`,
  ];

  it('refuses each one, naming the line, and runs nothing', () => {
    const m = marker();
    for (const text of hostile(m)) {
      const result = parsePyConfig(text);
      expect(result.problems, text).not.toEqual([]);
      expect(result.problems[0], text).toMatch(/^1:\d+: /);
    }
    expect(existsSync(m)).toBe(false);
  });

  it('says why: a call, an f-string, a name', () => {
    expect(problems("__import__('os').system('touch /tmp/x')")).toEqual([
      '1:1: __import__(…) is a call: calls are never run; only NAME = value lines are read',
    ]);
    expect(problems("A = f\"{__import__('os').system('touch /tmp/x')}\"")).toEqual([
      "1:5: f-strings are not read: they run the code in their braces; write a plain 'string'",
    ]);
    expect(problems("A = print('x')")).toEqual([
      '1:5: print(…) is a call: calls are never run; write the value itself',
    ]);
    expect(problems('A = os.system')).toEqual([
      '1:5: os is a name, not a value: only literals are read (nothing is looked up)',
    ]);
  });

  it('fails start-up with the problem and its line when the node is pointed at it', () => {
    const dir = tempDir();
    const m = join(dir, 'ran');
    const path = join(dir, 'config_hardware.py');
    writeFileSync(path, `HARDWARE_MODE = 'real'\n__import__('os').system('touch ${m}')\n`);
    expect(() => loadHardwareFile(path)).toThrow(HardwareFileError);
    expect(() => loadHardwareFile(path)).toThrow(
      /config_hardware\.py is invalid:\n {2}- 2:1: __import__\(…\) is a call/,
    );
    expect(existsSync(m)).toBe(false);
    expect(() => readPyHardwareFile('A = 1')).toThrow(/1:1: A is not a name this node reads/);
  });
});
