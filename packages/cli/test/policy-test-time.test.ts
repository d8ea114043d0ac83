import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { cli } from './run-cli.js';

let project: string;

// A rule that fires only from 12:00 to 13:59 (in the project's time_zone).
const LUNCH_POLICY = `rules:
  - name: no-restarts-at-lunch
    priority: 5000
    match:
      actions: [restart-deployment]
      time_windows:
        - start_hour: 12
          end_hour: 13
    decision: deny
    reason: not at lunch
`;

function suite(cases: { name: string; time: unknown; expect: string }[]): string {
  return `tests:\n${cases
    .map(
      (testCase) => `  - name: ${testCase.name}
    action: restart-deployment
    target: dev/test-app
    params: { namespace: dev, deployment: app }
    time: ${JSON.stringify(testCase.time)}
    expect: ${testCase.expect}
`,
    )
    .join('')}`;
}

beforeAll(() => {
  project = join(mkdtempSync(join(tmpdir(), 'agent-safe-tz-')), 'p');
  expect(cli(['init', project], tmpdir()).code).toBe(0);
  writeFileSync(join(project, 'policies', 'lunch.yaml'), LUNCH_POLICY);
});

function run(file: string, env: Record<string, string>) {
  return cli(['test', file, '--json-output'], project, env);
}

describe('policy test `time` without a UTC offset', () => {
  it("is read in the project's time zone (UTC by default), whatever the host's TZ", () => {
    const file = join(project, 'lunch-utc.yaml');
    writeFileSync(
      file,
      suite([
        { name: 'local lunch', time: '2026-03-02T12:30:00', expect: 'deny' },
        { name: 'local evening', time: '2026-03-02T20:00', expect: 'allow' },
        { name: 'explicit UTC lunch', time: '2026-03-02T12:30:00Z', expect: 'deny' },
        { name: 'Tokyo lunch is 03:30 UTC', time: '2026-03-02T12:30:00+09:00', expect: 'allow' },
      ]),
    );
    for (const TZ of ['UTC', 'Asia/Tokyo', 'America/Los_Angeles']) {
      const result = run(file, { TZ });
      const document = JSON.parse(result.stdout);
      expect({ TZ, failed: document.data?.failed, code: result.code }).toEqual({ TZ, failed: 0, code: 0 });
    }
  });

  it("follows agent-safe.yaml's time_zone", () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'agent-safe-tz-tokyo-')), 'p');
    cli(['init', dir], tmpdir());
    writeFileSync(join(dir, 'policies', 'lunch.yaml'), LUNCH_POLICY);
    const config = join(dir, 'agent-safe.yaml');
    writeFileSync(config, readFileSync(config, 'utf8').replace('time_zone: UTC', 'time_zone: Asia/Tokyo'));
    const file = join(dir, 'lunch-tokyo.yaml');
    writeFileSync(
      file,
      suite([
        { name: 'Tokyo lunch', time: '2026-03-02T12:30:00', expect: 'deny' },
        { name: 'UTC lunch is 21:30 in Tokyo', time: '2026-03-02T12:30:00Z', expect: 'allow' },
      ]),
    );
    for (const TZ of ['UTC', 'Europe/Paris']) {
      const result = cli(['test', file], dir, { TZ });
      expect(result.stdout).toMatch(/2 passed, 0 failed/);
      expect(result.code).toBe(0);
    }
  });

  it('moves a wall time skipped by daylight saving forward by the gap', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'agent-safe-tz-dst-')), 'p');
    cli(['init', dir], tmpdir());
    // Only 03:00–03:59 New York time.
    writeFileSync(join(dir, 'policies', 'three.yaml'), LUNCH_POLICY.replace('12', '3').replace('13', '3'));
    const config = join(dir, 'agent-safe.yaml');
    writeFileSync(
      config,
      readFileSync(config, 'utf8').replace('time_zone: UTC', 'time_zone: America/New_York'),
    );
    const file = join(dir, 'dst.yaml');
    writeFileSync(
      file,
      suite([
        // 2026-03-08 02:30 does not exist in New York: clocks jump from 02:00 to 03:00.
        { name: 'skipped half hour', time: '2026-03-08T02:30:00', expect: 'deny' },
        { name: 'an hour before', time: '2026-03-08T01:30:00', expect: 'allow' },
        { name: 'summer 03:30', time: '2026-07-01T03:30:00', expect: 'deny' },
      ]),
    );
    const result = cli(['test', file], dir, { TZ: 'Asia/Tokyo' });
    expect(result.stdout).toMatch(/3 passed, 0 failed/);
  });

  it('refuses forms that are not ISO 8601, naming the test case', () => {
    for (const time of [
      'March 2, 2026 12:30',
      '2026-02-30T12:00:00',
      '2026-03-02 12:30',
      '2026-03-02T25:00',
      1700000000,
    ]) {
      const file = join(project, 'bad-time.yaml');
      writeFileSync(file, suite([{ name: 'odd clock', time, expect: 'deny' }]));
      const result = cli(['test', file], project);
      expect({ time, code: result.code }).toEqual({ time, code: 1 });
      expect(result.stderr).toMatch(
        /tests\[0\]\.time: test "odd clock": .* is not an ISO-8601 date and time/,
      );
    }
  });
});
