// The script editor: CodeMirror 6 with Python highlighting, and the hub's problems marked at their lines. A program
// (JSON or YAML) is edited in the same editor without the Python language (it is created once per language).
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { python } from '@codemirror/lang-python';
import { bracketMatching, defaultHighlightStyle, indentOnInput, syntaxHighlighting } from '@codemirror/language';
import { type Diagnostic, lintGutter, setDiagnostics } from '@codemirror/lint';
import { EditorState } from '@codemirror/state';
import { EditorView, highlightActiveLine, highlightActiveLineGutter, keymap, lineNumbers } from '@codemirror/view';
import { useEffect, useRef } from 'react';

export interface LineProblem {
  line?: number | undefined;
  column?: number | undefined;
  message: string;
}

export function ScriptEditor({
  value,
  onChange,
  problems,
  language = 'python',
}: {
  value: string;
  onChange: (text: string) => void;
  problems: LineProblem[];
  /** python: a script, highlighted; program: a JSON or YAML document. */
  language?: 'python' | 'program';
}) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const changed = useRef(onChange);
  changed.current = onChange;

  // biome-ignore lint/correctness/useExhaustiveDependencies: the editor is created once; value syncs below
  useEffect(() => {
    if (!host.current) return;
    view.current = new EditorView({
      parent: host.current,
      state: EditorState.create({
        doc: value,
        extensions: [
          lineNumbers(),
          highlightActiveLineGutter(),
          highlightActiveLine(),
          history(),
          indentOnInput(),
          bracketMatching(),
          syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
          // A program's JSON is often one long line: wrapped, it needs no sideways scrolling (which a keyboard cannot reach).
          language === 'python' ? python() : EditorView.lineWrapping,
          lintGutter(),
          keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
          EditorView.updateListener.of((update) => {
            if (update.docChanged) changed.current(update.state.doc.toString());
          }),
          EditorView.contentAttributes.of(
            language === 'python'
              ? { 'aria-label': 'Python script', 'data-testid': 'script-editor' }
              : { 'aria-label': 'Program, JSON or YAML', 'data-testid': 'program-editor' },
          ),
        ],
      }),
    });
    return () => view.current?.destroy();
  }, []);

  useEffect(() => {
    const v = view.current;
    if (v && v.state.doc.toString() !== value)
      v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: value } });
  }, [value]);

  useEffect(() => {
    const v = view.current;
    if (!v) return;
    const doc = v.state.doc;
    const diagnostics: Diagnostic[] = problems.map((p) => {
      const line = doc.line(Math.min(Math.max(p.line ?? 1, 1), doc.lines));
      const from = Math.min(line.from + Math.max((p.column ?? 1) - 1, 0), line.to);
      return { from, to: Math.max(from, line.to), severity: 'error', message: p.message };
    });
    v.dispatch(setDiagnostics(v.state, diagnostics));
  }, [problems]);

  return <div ref={host} className="editor" />;
}
