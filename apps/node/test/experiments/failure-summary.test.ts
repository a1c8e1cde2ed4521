// A failed run is summed up by its exception and where it was raised, even when other output came after or between
// the traceback's lines (stdout and stderr reach the node as separate streams).
import { describe, expect, it } from 'vitest';
import { failureMessage, findTraceback } from '../../src/experiments/failure-summary.js';
import { alreadyKept } from '../../src/experiments/run-log.js';

const TRACEBACK = [
  'Traceback (most recent call last):',
  '  File "/app/user_script.py", line 9, in <module>',
  '    main()',
  '  File "/app/user_script.py", line 6, in main',
  '    raise ValueError("bad calibration: 3 points")',
  'ValueError: bad calibration: 3 points',
].join('\n');

describe('failure summaries', () => {
  it('names the exception and its last frame, not the last line printed', () => {
    const log = `row 0\nrow 1\n${TRACEBACK}\nrow 2 printed after, on stdout\n`;
    expect(failureMessage(1, log, 500)).toBe(
      `Exit code 1: ValueError: bad calibration: 3 points (File "/app/user_script.py", line 6, in main)\n${TRACEBACK}`,
    );
  });

  it('finds the traceback with other output between its lines, and takes the last one', () => {
    const first = TRACEBACK.replace(/bad calibration: 3 points/g, 'first');
    const mixed = TRACEBACK.split('\n')
      .flatMap((line, i) => (i === 2 ? [line, 'xxxxxxxxxxxxxxxxxxxx'] : [line]))
      .join('\n');
    const found = findTraceback(`${first}\nlater\n${mixed}\n${'x'.repeat(1000)}\n`);
    expect(found?.exception).toBe('ValueError: bad calibration: 3 points');
    expect(found?.frame).toBe('File "/app/user_script.py", line 6, in main');
    expect(found?.traceback).not.toContain('xxxx');
  });

  it('keeps a dotted exception name, one without a message, and Python 3.11 ^^^ markers', () => {
    const log = [
      'Traceback (most recent call last):',
      '  File "/app/user_script.py", line 3, in <module>',
      '    bioreactor.change_peltier(100, "heat")',
      '    ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^',
      'bioreactor_client.errors.SafetyInterlockError: heating refused',
    ].join('\n');
    expect(findTraceback(log)?.exception).toBe('bioreactor_client.errors.SafetyInterlockError: heating refused');
    expect(
      findTraceback('Traceback (most recent call last):\n  File "x", line 1, in <module>\nKeyboardInterrupt\n')
        ?.exception,
    ).toBe('KeyboardInterrupt');
  });

  it('falls back to the end of the log when there is no traceback', () => {
    expect(failureMessage(3, 'before\nbroken sensor\n', 500)).toBe('Exit code 3: before\nbroken sensor');
    expect(failureMessage(3, '', 500)).toBe('Exit code 3');
    expect(failureMessage(2, 'y'.repeat(600), 500)).toBe(`Exit code 2: …${'y'.repeat(500)}`);
  });
});

describe('resuming a run log from the engine', () => {
  const b = (text: string) => Buffer.from(text);
  it('skips the part of the engine’s log the node kept already, found by content', () => {
    expect(alreadyKept(b('line 1\nline 2\nstarted'), b('line 2\nstarted\nafter restart\n'))).toBe(14);
    expect(alreadyKept(b('a\nb\n'), b('a\nb\n'))).toBe(4);
    // The engine's log begins after what was kept (nothing printed just before the node stopped).
    expect(alreadyKept(b('a\nb\n'), b('c\n'))).toBe(-1);
    expect(alreadyKept(b(''), b('c\n'))).toBe(-1);
    expect(alreadyKept(b('a\n'), b(''))).toBe(0);
    // Repeated lines: the overlap that reaches the end of what was kept.
    expect(alreadyKept(b('x\nx\nx\n'), b('x\nx\ny\n'))).toBe(4);
  });
});
