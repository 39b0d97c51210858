/** A KeyDirectory over the Parley API's published keys (GET /v1/organisations/:id/keys). */
import { ApiClientError, type ApiClient } from '../activities/api-client.ts';
import type { KeyDirectory } from '../activities/key-directory.ts';

/** Unknown organisations (HTTP 404) are undefined; any other API failure is thrown. */
export function apiKeyDirectory(client: ApiClient): KeyDirectory {
  return {
    async publicKeys(org) {
      try {
        return await client.organisationKeys(org);
      } catch (err) {
        if (err instanceof ApiClientError && err.status === 404) return undefined;
        throw err;
      }
    },
  };
}
