// The hub's typed client (port 8000): the queue, its experiments and nodes. Types from openapi/hub.json.
import { bearer, ROLE_HEADER, SESSION_HEADER, type UserRole } from '@bioreactor/api';
import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import { defaultHeaders } from './common.js';
import type { paths } from './generated/hub.js';

export type { components as HubComponents, operations as HubOperations, paths as HubPaths } from './generated/hub.js';
export type HubClient = Client<paths>;

export interface HubClientOptions extends Omit<ClientOptions, 'baseUrl'> {
  /** BIOREACTOR_API_TOKEN, when the hub has one. */
  token?: string;
  /** The user the requests are made for (X-Session-ID); none: an operator. */
  user?: string;
  role?: UserRole;
}

export function createHubClient(baseUrl: string, options: HubClientOptions = {}): HubClient {
  const { token, user, role, ...rest } = options;
  const client = createClient<paths>({ baseUrl, ...rest });
  client.use(
    defaultHeaders(() => ({
      authorization: token ? bearer(token) : undefined,
      [SESSION_HEADER]: user,
      [ROLE_HEADER]: role,
    })),
  );
  return client;
}
