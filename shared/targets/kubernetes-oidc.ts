/** `kubernetes-oidc`: the broker signs the credential itself; the cluster trusts argo-sts as a JWT issuer. */
import type { CryptoPort } from '../keys/crypto-port.ts';
import { mintToken } from './mint-token.ts';
import type { SigningKeys } from '../keys/signing-keys.ts';
import type { TargetIssuer } from './issue-credential.ts';

export function kubernetesOidcIssuer(issuer: string, keys: SigningKeys, cryptoPort?: CryptoPort): TargetIssuer {
  return {
    async issue(request) {
      if (request.target.kind !== 'kubernetes-oidc') throw new TypeError(`kubernetes-oidc issuer given a ${request.target.kind} target`);
      const minted = await mintToken(keys, {
        issuer,
        audience: request.target.audience,
        subject: request.subject,
        now: request.now,
        ttl: request.ttl,
        jti: request.jti,
        namespace: request.namespace,
        scopes: request.scopes,
        groups: request.groups,
        preferredUsername: request.preferredUsername,
        email: request.email,
        act: request.act,
      }, cryptoPort);
      return { token: minted.token, expiresIn: minted.expiresAt - request.now };
    },
  };
}
