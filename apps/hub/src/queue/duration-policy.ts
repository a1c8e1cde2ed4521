// The duration policy of @bioreactor/api applied to this hub: its own limit, the lab's default and what each node
// advertises. Submissions are checked here, so a run no node would take is refused before it waits in line.
import {
  ApiError,
  type DurationPolicy,
  decideMaxDuration,
  durationPolicy,
  type MaxDurationSource,
  type NodeDurationLimit,
} from '@bioreactor/api';
import type { NodeRegistry } from '../nodes/registry.js';

export interface HubDurationOptions {
  /** BIOREACTOR_MAX_DURATION_LIMIT_S. */
  hubLimitS: number;
  /** BIOREACTOR_DEFAULT_MAX_DURATION_S, when the lab set it. */
  labDefaultS?: number | undefined;
}

export class HubDurations {
  constructor(
    private readonly registry: NodeRegistry,
    private readonly opts: HubDurationOptions,
  ) {}

  private nodes(pin: string | null): NodeDurationLimit[] {
    const nodes = pin === null ? this.registry.list() : [this.registry.mustGet(pin)];
    return nodes.map((n) => ({ name: n.name, maxDurationS: n.maxDurationS }));
  }

  /** The policy now, for experiments that may run on `pin` (or on any node). */
  policy(pin: string | null = null): DurationPolicy {
    return durationPolicy({
      hubLimitS: this.opts.hubLimitS,
      labDefaultS: this.opts.labDefaultS,
      nodes: this.nodes(pin),
    });
  }

  /**
   * The max_duration_s a submission gets: what it declared, or the default. A declared duration no node it may use
   * would run is refused with VALIDATION_FAILED naming the limit.
   */
  decide(
    declared: number | undefined,
    pin: string | null = null,
  ): { maxDurationS: number; source: MaxDurationSource; message: string } {
    const decision = decideMaxDuration(declared, {
      hubLimitS: this.opts.hubLimitS,
      labDefaultS: this.opts.labDefaultS,
      nodes: this.nodes(pin),
    });
    if (!decision.ok) {
      throw new ApiError('VALIDATION_FAILED', decision.message, [
        { field: 'max_duration_s', message: `at most ${decision.limit_s} s` },
      ]);
    }
    return { maxDurationS: decision.max_duration_s, source: decision.source, message: decision.message };
  }
}
