// A program's expanded timeline (POST /api/programs/preview) as a chart: one lane per track, each step a band whose
// step line rises with the step's level (a ring light's band in its colour), and one lane per automation as a
// labelled span (a thermostat's setpoints as its step line). A small SVG: the time axis is program hours, not wall
// clock, so the uPlot time chart does not fit. The same changes are listed in a table for keyboards and readers.
import type { ProgramTimeline } from '@bioreactor/api';
import { useEffect, useRef, useState } from 'react';
import { formatDuration } from '../format.js';

/** Drawn at the width it is shown (text stays its size), never narrower than this. */
const MIN_WIDTH = 320;
const LABEL_W = 110;
const RIGHT_PAD = 16;
const LANE_H = 44;
const AXIS_H = 26;
/** Tick spacings tried, in hours: the first giving at most about 8 ticks wins. */
const TICK_HOURS = [1 / 60, 5 / 60, 15 / 60, 0.5, 1, 2, 3, 6, 12, 24, 48, 72, 120, 168, 240, 480, 720];
/** Most changes listed in the table (the chart draws them all). */
const TABLE_ROWS = 300;

type Change = ProgramTimeline['changes'][number];
type Span = ProgramTimeline['automations'][number];

/** The numbers of a control body (true/false as 1/0): a step's level is its largest. */
function levelOf(set: Record<string, unknown>): number | null {
  const values = Object.entries(set)
    .filter(([k]) => k !== 'pump' && k !== 'relay')
    .map(([, v]) => (typeof v === 'boolean' ? (v ? 1 : 0) : typeof v === 'number' ? v : null))
    .filter((v): v is number => v !== null && Number.isFinite(v));
  return values.length > 0 ? Math.max(...values) : null;
}

/** A control body in a few words: `duty_cycle 40`, `red 255, green 180, blue 120`. */
export function describeSet(set: Record<string, unknown>): string {
  return Object.entries(set)
    .filter(([k]) => k !== 'pump' && k !== 'relay')
    .map(([k, v]) => `${k} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(', ');
}

/** Which actuator a track drives: the component, and its pump or relay for those that have several. */
function laneName(change: Change): string {
  const which = change.set.pump ?? change.set.relay;
  return typeof which === 'string' ? `${change.component} ${which}` : change.component;
}

function rgbOf(set: Record<string, unknown>): string | null {
  const { red, green, blue } = set as { red?: unknown; green?: unknown; blue?: unknown };
  if (typeof red !== 'number' || typeof green !== 'number' || typeof blue !== 'number') return null;
  return `rgb(${red}, ${green}, ${blue})`;
}

export function hoursLabel(seconds: number): string {
  const h = seconds / 3600;
  if (h === 0) return '0';
  if (h < 1) return `${Math.round(h * 60)} min`;
  if (h >= 48 && Number.isInteger(h / 24)) return `${h / 24} d`;
  return `${Math.round(h * 10) / 10} h`;
}

/** One automation's span in words: what it holds or doses. */
export function describeAutomation(a: Span): string {
  const p = a.params as Record<string, unknown>;
  const every = typeof p.interval_s === 'number' ? ` every ${formatDuration(p.interval_s)}` : '';
  if (a.kind === 'thermostat') {
    const points = (a.setpoints ?? []).map(
      (s) => `${s.setpoint_c} °C${s.at_s > 0 ? ` from ${hoursLabel(s.at_s)}` : ''}`,
    );
    return `thermostat: ${points.length > 0 ? points.join(', ') : `${String(p.setpoint_c)} °C`}`;
  }
  if (a.kind === 'turbidostat')
    return `turbidostat: above OD ${String(p.od_target)}, ${String(p.dose_ml)} mL by ${String(p.pump)}${p.pump_out ? `, out by ${String(p.pump_out)}` : ''}${every}`;
  if (a.kind === 'chemostat')
    return `chemostat: ${String(p.dilution_rate_per_h)}/h of ${String(p.volume_ml)} mL, ${String(p.pump_in)} in, ${String(p.pump_out)} out${every}`;
  return `${a.kind}: drives ${a.drives.join(', ')}`;
}

export function ProgramTimelineChart({
  timeline,
  testId = 'program-timeline',
}: {
  timeline: ProgramTimeline;
  testId?: string;
}) {
  const box = useRef<HTMLElement>(null);
  const [width, setWidth] = useState(880);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const observer = new ResizeObserver(([entry]) => {
      if (entry) setWidth(Math.max(MIN_WIDTH, Math.round(entry.contentRect.width)));
    });
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  const horizon = Math.max(1, timeline.end_s === null ? timeline.to_s : Math.min(timeline.to_s, timeline.end_s));
  const plotW = width - LABEL_W - RIGHT_PAD;
  const x = (s: number) => LABEL_W + (Math.min(Math.max(s, 0), horizon) / horizon) * plotW;

  const tracks = new Map<number, Change[]>();
  for (const c of timeline.changes) {
    const list = tracks.get(c.track) ?? [];
    list.push(c);
    tracks.set(c.track, list);
  }
  const trackLanes = [...tracks.entries()].sort(([a], [b]) => a - b);
  const lanes = trackLanes.length + timeline.automations.length;
  const height = AXIS_H + Math.max(lanes, 1) * LANE_H + 8;

  const tickH = TICK_HOURS.find((t) => horizon / 3600 / t <= 8) ?? TICK_HOURS[TICK_HOURS.length - 1] ?? 24;
  const ticks: number[] = [];
  for (let t = 0; t <= horizon + 1e-6; t += tickH * 3600) ticks.push(t);

  const summary = `${timeline.name}: ${trackLanes.length} track${trackLanes.length === 1 ? '' : 's'} and ${timeline.automations.length} automation${timeline.automations.length === 1 ? '' : 's'} over ${hoursLabel(horizon)}${timeline.end_s === null ? ' (runs until stopped)' : ''}`;
  const titleId = `${testId}-title`;

  return (
    <figure className="program-timeline" data-testid={testId} ref={box}>
      <svg
        viewBox={`0 0 ${width} ${height}`}
        width={width}
        height={height}
        role="img"
        aria-labelledby={titleId}
        preserveAspectRatio="xMinYMin meet"
      >
        <title id={titleId}>{summary}</title>
        {ticks.map((t) => (
          <g key={t}>
            <line x1={x(t)} x2={x(t)} y1={AXIS_H - 4} y2={height - 6} className="pt-grid" />
            <text x={x(t)} y={AXIS_H - 10} textAnchor={t === 0 ? 'start' : 'middle'} className="pt-tick">
              {hoursLabel(t)}
            </text>
          </g>
        ))}
        {trackLanes.map(([track, changes], i) => {
          const top = AXIS_H + i * LANE_H;
          const levels = changes.map((c) => levelOf(c.set));
          const max = Math.max(1e-9, ...levels.map((l) => l ?? 0));
          const bandTop = top + 16;
          const bandH = LANE_H - 22;
          const first = changes[0] as Change;
          const points: string[] = [];
          return (
            <g key={`t${track}`} data-testid="timeline-lane" data-lane={laneName(first)}>
              <text x={4} y={top + 30} className="pt-label">
                {laneName(first)}
              </text>
              {changes.map((c, j) => {
                const from = c.at_s;
                const to = changes[j + 1]?.at_s ?? horizon;
                if (from >= horizon) return null;
                const level = levels[j] ?? 0;
                const y = bandTop + bandH - (bandH * level) / max;
                points.push(`${x(from)},${y}`, `${x(to)},${y}`);
                const w = x(to) - x(from);
                const words = describeSet(c.set);
                return (
                  <g key={`${c.at_s}:${c.step}:${c.cycle}`}>
                    <rect
                      x={x(from)}
                      y={bandTop}
                      width={Math.max(w, 0.5)}
                      height={bandH}
                      className={`pt-band ${c.step % 2 === 0 ? 'pt-band-even' : 'pt-band-odd'}`}
                      style={rgbOf(c.set) ? { fill: rgbOf(c.set) as string, fillOpacity: 0.85 } : undefined}
                    >
                      <title>{`${laneName(c)} from ${hoursLabel(from)}: ${words}`}</title>
                    </rect>
                    {w > 70 && (
                      <text x={x(from) + 3} y={top + 12} className="pt-step-text">
                        {words.length > w / 6 ? `${words.slice(0, Math.max(4, Math.floor(w / 6) - 1))}…` : words}
                      </text>
                    )}
                  </g>
                );
              })}
              <polyline points={points.join(' ')} className="pt-step-line" />
            </g>
          );
        })}
        {timeline.automations.map((a, i) => {
          const top = AXIS_H + (trackLanes.length + i) * LANE_H;
          const from = x(a.from_s);
          const to = x(a.to_s ?? horizon);
          const bandTop = top + 16;
          const bandH = LANE_H - 22;
          const setpoints = a.setpoints ?? [];
          const lo = Math.min(...setpoints.map((s) => s.setpoint_c)) - 1;
          const hi = Math.max(...setpoints.map((s) => s.setpoint_c)) + 1;
          const line = setpoints.flatMap((s, j) => {
            const y = bandTop + bandH - ((s.setpoint_c - lo) / (hi - lo)) * bandH;
            return [`${x(s.at_s)},${y}`, `${x(setpoints[j + 1]?.at_s ?? a.to_s ?? horizon)},${y}`];
          });
          const words = describeAutomation(a);
          return (
            <g key={`a${a.index}`} data-testid="timeline-automation" data-kind={a.kind}>
              <text x={4} y={top + 30} className="pt-label">
                {a.kind}
              </text>
              <rect x={from} y={bandTop} width={Math.max(to - from, 0.5)} height={bandH} className="pt-auto">
                <title>{`${words} (drives ${a.drives.join(', ')})`}</title>
              </rect>
              {line.length > 0 && <polyline points={line.join(' ')} className="pt-step-line" />}
              <text x={from + 3} y={top + 12} className="pt-step-text">
                {words.length > 120 ? `${words.slice(0, 119)}…` : words}
              </text>
            </g>
          );
        })}
      </svg>
      <figcaption className="muted small" data-testid={`${testId}-caption`}>
        {summary}.{timeline.truncated ? ' More changes than one preview lists: the chart shows the first ones.' : ''}
        {timeline.planned_inflow_ml === null
          ? ' It adds liquid without end unless stopped.'
          : timeline.planned_inflow_ml > 0
            ? ` It can add up to ${Math.round(timeline.planned_inflow_ml * 100) / 100} mL through the inflow pumps.`
            : ''}
      </figcaption>
      <details>
        <summary>The timeline as a table</summary>
        {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling box must be reachable by keyboard (WCAG 2.1.1) */}
        <div className="table-scroll" tabIndex={0}>
          <table className="table" data-testid={`${testId}-table`}>
            <caption className="visually-hidden">What each component is set to when</caption>
            <thead>
              <tr>
                <th scope="col">From</th>
                <th scope="col">Component</th>
                <th scope="col">Setting</th>
              </tr>
            </thead>
            <tbody>
              {timeline.changes.slice(0, TABLE_ROWS).map((c) => (
                <tr key={`${c.track}:${c.at_s}:${c.step}:${c.cycle}`}>
                  <td>{hoursLabel(c.at_s)}</td>
                  <td>{laneName(c)}</td>
                  <td>{describeSet(c.set)}</td>
                </tr>
              ))}
              {timeline.automations.map((a) => (
                <tr key={`a${a.index}`}>
                  <td>{hoursLabel(a.from_s)}</td>
                  <td>{a.kind}</td>
                  <td>{describeAutomation(a)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {timeline.changes.length > TABLE_ROWS && (
          <p className="muted small">
            The first {TABLE_ROWS} of {timeline.changes.length} changes.
          </p>
        )}
      </details>
    </figure>
  );
}
