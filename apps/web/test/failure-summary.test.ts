// A failed run's one-line summary, from the error message the node writes (failure-summary.ts on the node).
import { describe, expect, it } from 'vitest';
import { failureOf, summarizeFailure } from '../src/failure-summary.js';

const NODE_MESSAGE = `Exit code 1: ValueError: row 3 has no OD reading (File "/app/user_script.py", line 6, in main)
Traceback (most recent call last):
  File "/app/user_script.py", line 9, in <module>
    main()
  File "/app/user_script.py", line 6, in main
    raise ValueError("row 3 has no OD reading")
ValueError: row 3 has no OD reading`;

describe('failure summaries', () => {
  it('names the exception, its message and the last frame', () => {
    expect(summarizeFailure(NODE_MESSAGE, 1)).toEqual({
      summary: 'ValueError: row 3 has no OD reading (line 6, in main)',
      exception: 'ValueError',
      message: 'row 3 has no OD reading',
      file: '/app/user_script.py',
      line: 6,
      function: 'main',
      exit_code: 1,
    });
  });

  it('keeps a dotted exception, one without a message, and a frame outside the script', () => {
    const s = summarizeFailure(
      'Exit code 1: numpy.linalg.LinAlgError (File "/usr/lib/python3/numpy/linalg.py", line 90, in solve)\nTraceback (most recent call last):\n…',
    );
    expect(s?.summary).toBe('numpy.linalg.LinAlgError (line 90, in solve of /usr/lib/python3/numpy/linalg.py)');
    expect(s?.exit_code).toBe(1);
  });

  it('does not take what a script printed for an exception', () => {
    expect(summarizeFailure('Exit code 1: row 0')).toMatchObject({ summary: 'Exit code 1: row 0', exception: null });
    expect(summarizeFailure('Exit code 2: Done')).toMatchObject({ exception: null });
  });

  it('summarises other endings by their first line, and nothing for a run without a message', () => {
    expect(summarizeFailure('Stopped after reaching its maximum duration of 60 s')?.summary).toBe(
      'Stopped after reaching its maximum duration of 60 s',
    );
    expect(summarizeFailure(null)).toBeNull();
    expect(failureOf({ status: 'completed', error_message: null, exit_code: 0 })).toBeNull();
    expect(failureOf({ status: 'failed', error_message: NODE_MESSAGE, exit_code: 1 })?.exception).toBe('ValueError');
    expect(summarizeFailure(`Out of memory: ${'x'.repeat(400)}`)?.summary).toHaveLength(300);
  });
});
