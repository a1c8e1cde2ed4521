// The node's typed client (port 9000): hardware v3 and v2, simulation faults and experiment runs. Types from
// openapi/node.json.
import { bearer } from '@bioreactor/api';
import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import { defaultHeaders } from './common.js';
import type { paths } from './generated/node.js';

export type {
  components as NodeComponents,
  operations as NodeOperations,
  paths as NodePaths,
} from './generated/node.js';
export type NodeClient = Client<paths>;

export interface NodeClientOptions extends Omit<ClientOptions, 'baseUrl'> {
  /** BIOREACTOR_API_TOKEN, when the node has one. */
  token?: string;
}

export function createNodeClient(baseUrl: string, options: NodeClientOptions = {}): NodeClient {
  const { token, ...rest } = options;
  const client = createClient<paths>({ baseUrl, ...rest });
  client.use(defaultHeaders(() => ({ authorization: token ? bearer(token) : undefined })));
  return client;
}
