// GET /api/status and GET /health: what works on this node, what does not and why, and the experiment runner.
import { type ExperimentLimits, type NodeStorage, nodeRoutes, type RunnerInfo, SYSTEM_VERSION } from '@bioreactor/api';
import type { Service } from '@bioreactor/service-kit';
import type { Static } from 'typebox';
import type { Hardware } from '../hardware/index.js';

/** Provided by the experiment side; absent on a node without a runner. */
export interface ExperimentStatusProvider {
  runnerInfo(): Static<typeof RunnerInfo>;
  activeExperimentId(): string | null;
  /** The node's disk (free space, and why runs are refused or not recorded). */
  storage?(): Promise<Static<typeof NodeStorage>>;
}

const NO_RUNNER: Static<typeof RunnerInfo> = {
  kind: 'none',
  available: false,
  detail: 'no experiment runner configured',
};

export async function registerStatusRoutes(
  app: Service,
  hardware: Hardware,
  experiments: () => ExperimentStatusProvider | undefined,
  /** What the hub checks a submission against before it queues it (BIOREACTOR_EXPERIMENT_MAX_DURATION_S). */
  limits?: ExperimentLimits,
): Promise<void> {
  const summary = () => {
    const { initialized, unavailable } = hardware.report();
    return {
      hardware_mode: hardware.mode,
      hardware_available: Object.values(initialized).some(Boolean),
      initialized_components: initialized,
      unavailable,
      // Starting until every enabled sensor has its first sample or its error.
      ...hardware.readiness(),
    };
  };
  app.route({
    ...nodeRoutes.health,
    handler: async () => {
      const s = summary();
      const storage = await experiments()?.storage?.();
      return {
        ...(storage ? { storage } : {}),
        status: s.ready ? ('healthy' as const) : ('starting' as const),
        version: SYSTEM_VERSION,
        hardware_mode: s.hardware_mode,
        hardware_available: s.hardware_available,
        initialized_components: s.initialized_components,
        component_count: Object.values(s.initialized_components).filter(Boolean).length,
        ready: s.ready,
        waiting_for: s.waiting_for,
      };
    },
  });
  app.route({
    ...nodeRoutes.status,
    handler: async () => {
      const s = summary();
      const provider = experiments();
      return {
        status: s.ready ? ('operational' as const) : ('starting' as const),
        version: SYSTEM_VERSION,
        api_version: 'v3_with_v2_compat' as const,
        hardware_mode: s.hardware_mode,
        hardware_available: s.hardware_available,
        initialized_components: s.initialized_components,
        unavailable_components: s.unavailable,
        runner: provider?.runnerInfo() ?? NO_RUNNER,
        active_experiment: provider?.activeExperimentId() ?? null,
        ...(limits ? { experiment_limits: limits } : {}),
        ready: s.ready,
        waiting_for: s.waiting_for,
        ...(provider?.storage ? { storage: await provider.storage() } : {}),
      };
    },
  });
}
