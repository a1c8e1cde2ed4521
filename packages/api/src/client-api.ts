// Which bioreactor_client an experiment image must hold for this node's API.

/**
 * The API level of the node that bioreactor_client must follow (its `__api_level__`): an experiment image whose
 * client is at a lower level is refused by the node. Raise it with the client's when the client has to change to
 * follow the node. 2: readings in the batched state (`?readings=true`), `extra` columns, no component allow-list.
 */
export const CLIENT_API_LEVEL = 2;

/** The experiment image's label naming its client: `version=3.0.0 api=2 sha256=<32 hex>` (runtime/client_label.py). */
export const CLIENT_LABEL = 'org.bioreactor.client';
