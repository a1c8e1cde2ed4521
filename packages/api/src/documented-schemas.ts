// The bodies the OpenAPI documents name (`#/components/schemas/<name>`, a named type in the generated client)
// instead of repeating them inline: service-kit finds each by its shape wherever a route uses it. Schemas with an
// `$id` (the component states) are named by it without being listed here.
import { ServiceHealth } from './common.js';
import { AllStates, Capability, History, PumpState } from './components.js';
import { DurationPolicy, ExperimentLimits } from './durations.js';
import { Problem } from './errors.js';
import { ActionResponse, HubExperiment, NodeInfo, Preemption, QueueStatus, SubmitResponse } from './hub-routes.js';
import {
  NodeHealth,
  NodeStatus,
  NodeStorage,
  RunnerInfo,
  RunRecord,
  SimulatedFault,
  SimulatedFaults,
} from './node-routes.js';
import {
  DashboardSettings,
  DisplayComponents,
  ExperimentSeries,
  LiveSample,
  WebExperiment,
  WebQueue,
  WebSession,
} from './web-routes.js';

export const DOCUMENTED_SCHEMAS: Readonly<Record<string, unknown>> = {
  ServiceHealth,
  Problem,
  HubExperiment,
  SubmitResponse,
  QueueStatus,
  ActionResponse,
  Preemption,
  NodeInfo,
  DurationPolicy,
  ExperimentLimits,
  NodeHealth,
  NodeStatus,
  NodeStorage,
  RunnerInfo,
  RunRecord,
  Capability,
  AllStates,
  PumpState,
  History,
  SimulatedFault,
  SimulatedFaults,
  WebExperiment,
  WebQueue,
  WebSession,
  DashboardSettings,
  DisplayComponents,
  LiveSample,
  ExperimentSeries,
};
