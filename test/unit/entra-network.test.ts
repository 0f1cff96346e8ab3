/** MSAL's network module on fetch (functions/ports/entra-msal.ts), fed canned responses. */
import { describe, expect, it } from 'vitest';
import { fetchNetworkModule } from '../../functions/ports/entra-msal.ts';
import { FETCH_LIMITS } from '../../shared/http/fetch-capped.ts';

const TOKEN_URL = 'https://login.microsoftonline.com/t/oauth2/v2.0/token';

describe('the MSAL network module', () => {
  it('reads a token endpoint answer as JSON with its status and headers', async () => {
    const network = fetchNetworkModule(async () => Response.json({ access_token: 'x', expires_in: 3599 }, { headers: { 'x-ms-request-id': 'r1' } }));
    const answer = await network.sendPostRequestAsync(TOKEN_URL, { body: 'grant_type=client_credentials' });
    expect(answer).toMatchObject({ status: 200, body: { expires_in: 3599 }, headers: { 'x-ms-request-id': 'r1' } });
  });

  it('refuses an answer larger than the fetch cap instead of reading it whole', async () => {
    const huge = new Uint8Array(FETCH_LIMITS.maxResponseBytes + 1).fill(0x20);
    const network = fetchNetworkModule(async () => new Response(huge, { status: 200 }));
    await expect(network.sendPostRequestAsync(TOKEN_URL, { body: '' })).rejects.toThrow(/response larger than 262144 bytes/);
  });

  it('turns a non-JSON answer into an invalid_response body MSAL can report', async () => {
    const network = fetchNetworkModule(async () => new Response('<html>bad gateway</html>', { status: 502 }));
    const answer = await network.sendGetRequestAsync(TOKEN_URL);
    expect(answer).toMatchObject({ status: 502, body: { error: 'invalid_response' } });
  });
});
