import { inspect } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import { CREDENTIAL_REDACTED, type CredentialRequest, ManualClock } from '@agent-safe/core';
import { EnvVault, renderScope } from '../src/index.js';
import { catalogueAction, rejected, thrown } from './helpers.js';

const SECRET = 'sEcReT-t0ken-value-9f8e7d';

function request(overrides: Partial<CredentialRequest> = {}): CredentialRequest {
  const action = catalogueAction('scale-deployment');
  const params = { namespace: 'shop', deployment: 'web', replicas: 2 };
  return {
    action: 'scale-deployment@1.0.0',
    target: 'shop-web',
    params,
    scope: renderScope(action, params)!,
    ttlSeconds: 300,
    requestId: 'evt-0123456789abcdef',
    ...overrides,
  };
}

function vault(
  clock = new ManualClock(1_000_000),
  env: Record<string, string | undefined> = { DEV_TOKEN: SECRET },
) {
  return new EnvVault({ actions: { 'scale-deployment': { token: 'DEV_TOKEN' } }, env, clock });
}

describe('EnvVault (development only)', () => {
  it('hands out the configured variables until the ttl passes, then refuses', async () => {
    const clock = new ManualClock(1_000_000);
    const envVault = vault(clock);
    const credential = await envVault.issue(request());
    expect(credential.kind).toBe('env');
    expect(credential.expiresAt).toBe(1_000_000 + 300_000);
    expect(credential.material).toEqual({ token: SECRET });
    clock.advance(299_999);
    expect(credential.material.token).toBe(SECRET);
    clock.advance(1);
    expect(credential.isExpired()).toBe(true);
    const error = thrown(() => credential.material);
    expect(error.message).toMatch(/expired at/);
    expect(error.message).not.toContain(SECRET);
    expect(envVault.activeCount()).toBe(0);
  });

  it('revoke forgets the value, in the handle and the vault, idempotently', async () => {
    const envVault = vault();
    const credential = await envVault.issue(request());
    expect(envVault.activeCount()).toBe(1);
    await envVault.revoke(credential);
    await envVault.revoke(credential);
    expect(credential.revoked).toBe(true);
    expect(envVault.activeCount()).toBe(0);
    expect(() => credential.material).toThrow(/was revoked/);
  });

  it('shortens a ttl longer than its maximum and says so', async () => {
    const clock = new ManualClock(0);
    const envVault = new EnvVault({
      actions: { 'scale-deployment@1.0.0': { token: 'DEV_TOKEN' } },
      env: { DEV_TOKEN: SECRET },
      clock,
      maxTtlSeconds: 60,
    });
    const credential = await envVault.issue(request({ ttlSeconds: 900 }));
    expect(credential.expiresAt).toBe(60_000);
    expect(credential.notes[0]).toMatch(/ttl 900 s shortened to the vault's maximum of 60 s/);
  });

  it('never prints the value: JSON, util.inspect, String, template literals, spreading', async () => {
    const credential = await vault().issue(request());
    const outputs = [
      JSON.stringify(credential),
      JSON.stringify({ nested: [credential] }),
      inspect(credential, { depth: 10, showHidden: true }),
      inspect({ wrapped: credential }, { depth: 10, showHidden: true }),
      String(credential),
      `${credential}`,
      JSON.stringify({ ...credential }),
      JSON.stringify(structuredClone({ ...credential })),
    ];
    for (const output of outputs) expect(output).not.toContain(SECRET);
    expect(JSON.parse(JSON.stringify(credential))).toMatchObject({
      kind: 'env',
      material: CREDENTIAL_REDACTED,
      revoked: false,
    });
    expect(inspect(credential)).toContain(CREDENTIAL_REDACTED);
  });

  it('errors name the action and the variable, never a value', async () => {
    const noEntry = await rejected(() => vault().issue(request({ action: 'delete-pod@1.0.0' })));
    expect(noEntry.code).toBe('CONFIG_INVALID');
    expect(noEntry.message).toMatch(/no entry for action delete-pod@1\.0\.0/);
    const unset = await rejected(() => vault(new ManualClock(0), { OTHER: SECRET }).issue(request()));
    expect(unset.message).toMatch(/not set or empty: token \(DEV_TOKEN\)/);
    expect(unset.message).not.toContain(SECRET);
    const badTtl = await rejected(() => vault().issue(request({ ttlSeconds: 0 })));
    expect(badTtl.code).toBe('INPUT_INVALID');
    // A value pasted where a variable name belongs is refused without being echoed.
    const pasted = thrown(
      () => new EnvVault({ actions: { 'scale-deployment': { token: `Bearer ${SECRET}` } } }),
    );
    expect(pasted.message).toMatch(/must name an environment variable/);
    expect(pasted.message).not.toContain(SECRET);
  });

  it('reads the environment at issue time only for the configured action', async () => {
    const env: Record<string, string | undefined> = { DEV_TOKEN: 'first' };
    const envVault = vault(new ManualClock(0), env);
    env.DEV_TOKEN = 'second';
    expect((await envVault.issue(request())).material.token).toBe('second');
  });
});
