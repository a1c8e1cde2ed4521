// What one user may see of an experiment: their own (or, for an admin, everyone's) in full; others' masked.
import {
  accountOfHubUser,
  type HubExperiment,
  type QueueStatus,
  type WebExperiment,
  type WebQueue,
} from '@bioreactor/api';
import { failureOf } from './failure-summary.js';
import type { HubCaller } from './hub-client.js';

export const MASKED_ID_LENGTH = 8;

export function ownerLabel(hubUser: string): string {
  return accountOfHubUser(hubUser) ?? `anonymous ${hubUser.slice(0, MASKED_ID_LENGTH)}`;
}

export function isOwner(experiment: HubExperiment, viewer: HubCaller): boolean {
  return experiment.user_session_id === viewer.hubUser;
}

export function viewExperiment(experiment: HubExperiment, viewer: HubCaller): WebExperiment {
  const mine = isOwner(experiment, viewer);
  if (mine || viewer.role === 'admin') {
    return {
      ...experiment,
      failure: failureOf(experiment),
      mine,
      owner: mine ? 'you' : ownerLabel(experiment.user_session_id),
      masked: false,
    };
  }
  return {
    ...experiment,
    experiment_id: experiment.experiment_id.slice(0, MASKED_ID_LENGTH),
    name: null,
    user_session_id: 'another user',
    error_message: null,
    exit_code: null,
    note: null,
    notes: null,
    labels: [],
    failure: null,
    mine: false,
    owner: 'another user',
    masked: true,
  };
}

export function viewQueue(queue: QueueStatus, viewer: HubCaller): WebQueue {
  return { ...queue, queue: queue.queue.map((e) => viewExperiment(e, viewer)) };
}
