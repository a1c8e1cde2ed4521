// A program's timeline: which step of each track is in force at a moment, when the next one starts, and the whole
// list of changes between two moments (the preview, and what the executor applies). Pure: program seconds in,
// program seconds out.
import {
  automationActuators,
  cycleSeconds,
  type Program,
  type ProgramTimeline,
  type ProgramTrack,
  plannedInflowMl,
  programEnd,
  setpointAt,
  trackEnd,
} from '@bioreactor/api';

/** Most changes one preview lists (a 1 s step repeated for 10 days would be 864 000). */
export const MAX_PREVIEW_CHANGES = 20_000;

/** The step of a track in force at program second `t`: null before its start and after its last step. */
export interface StepAt {
  step: number;
  cycle: number;
  /** When this step started and when the next change of this track comes (null: none, the track is done). */
  from_s: number;
  next_s: number | null;
}

export function stepAt(track: ProgramTrack, t: number): StepAt | null {
  const local = t - track.start_s;
  if (local < 0) return null;
  const cycle = cycleSeconds(track);
  const k = Math.floor(local / cycle);
  if (track.repeat !== 'forever' && k >= track.repeat) return null;
  let offset = local - k * cycle;
  let from = track.start_s + k * cycle;
  for (let i = 0; i < track.steps.length; i++) {
    const d = (track.steps[i] as { duration_s: number }).duration_s;
    if (offset < d || i === track.steps.length - 1) {
      const next = from + d;
      const end = trackEnd(track);
      // The last step of a finite track holds until the program ends: no change after it.
      return { step: i, cycle: k, from_s: from, next_s: end !== null && next >= end ? null : next };
    }
    offset -= d;
    from += d;
  }
  return null;
}

/** The last step of a finished track (it holds its setting until the program ends), as stepAt would answer it. */
export function stepInForce(track: ProgramTrack, t: number): StepAt | null {
  const at = stepAt(track, t);
  if (at || t < track.start_s || track.repeat === 'forever') return at;
  const last = track.steps.length - 1;
  const end = trackEnd(track) as number;
  return { step: last, cycle: track.repeat - 1, from_s: end - (track.steps[last]?.duration_s ?? 0), next_s: null };
}

/** When, after program second `t`, the next step of any track starts; null when none will. */
export function nextChange(program: Program, t: number): number | null {
  const end = programEnd(program);
  let next: number | null = null;
  for (const track of program.tracks) {
    const candidate = t < track.start_s ? track.start_s : stepAt(track, t)?.next_s;
    if (candidate === null || candidate === undefined) continue;
    if (end !== null && candidate >= end) continue;
    next = next === null ? candidate : Math.min(next, candidate);
  }
  return next;
}

/**
 * What each component is set to between program seconds `from` and `to`: the setting in force at `from` first,
 * then every step that starts before `to` (and before the program's end), in time order; plus when each
 * automation runs. `inflowPumps` (overflow_guard.inflow_pumps) are those whose volume counts as added liquid.
 */
export function expand(
  program: Program,
  from: number,
  to: number,
  inflowPumps: readonly string[] = ['inflow'],
): ProgramTimeline {
  const end = programEnd(program);
  const stop = end === null ? to : Math.min(to, end);
  const changes: ProgramTimeline['changes'] = [];
  let truncated = false;
  program.tracks.forEach((track, index) => {
    const push = (at: StepAt, atS: number) =>
      changes.push({
        component: track.component,
        at_s: atS,
        set: (track.steps[at.step] as { set: Record<string, unknown> }).set,
        track: index,
        step: at.step,
        cycle: at.cycle,
      });
    let current = stepInForce(track, from);
    if (current) push(current, from);
    let t = current ? current.next_s : from < track.start_s ? track.start_s : null;
    while (t !== null && t < stop) {
      if (changes.length >= MAX_PREVIEW_CHANGES) {
        truncated = true;
        return;
      }
      current = stepAt(track, t);
      if (!current) break;
      push(current, t);
      t = current.next_s;
    }
  });
  changes.sort((a, b) => a.at_s - b.at_s || a.track - b.track);
  const planned = plannedInflowMl(program, inflowPumps);
  return {
    name: program.name,
    from_s: from,
    to_s: to,
    end_s: end,
    changes: changes.slice(0, MAX_PREVIEW_CHANGES),
    automations: program.automations.map((a, index) => {
      const { kind, ...params } = a;
      const span = { index, kind, from_s: 0, to_s: end, drives: automationActuators(a), params };
      if (a.kind !== 'thermostat') return span;
      const setpoints = [{ at_s: from, setpoint_c: setpointAt(a, from) }];
      for (const step of a.schedule)
        if (step.at_s > from && step.at_s < stop) setpoints.push({ at_s: step.at_s, setpoint_c: step.setpoint_c });
      return { ...span, setpoints };
    }),
    truncated,
    planned_inflow_ml: Number.isFinite(planned) ? planned : null,
  };
}
