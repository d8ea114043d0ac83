import { AgentSafeError } from '@agent-safe/core';

const WEEKDAYS: Record<string, number> = { Mon: 0, Tue: 1, Wed: 2, Thu: 3, Fri: 4, Sat: 5, Sun: 6 };
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** Day of week (0 = Monday) and hour (0–23) of an instant, in one time zone. */
export interface LocalTime {
  day: number;
  hour: number;
}

/** Computes weekday and hour of an instant in UTC or an IANA time zone. */
export class LocalTimeReader {
  readonly timeZone: string | undefined;
  readonly #format: Intl.DateTimeFormat | undefined;

  /** Throws CONFIG_INVALID when `timeZone` is not an IANA zone name this runtime knows. */
  constructor(timeZone?: string) {
    this.timeZone = timeZone;
    if (timeZone === undefined || timeZone === 'UTC' || timeZone === 'Etc/UTC') return;
    try {
      if (typeof timeZone !== 'string' || timeZone.length === 0 || timeZone.length > 100)
        throw new RangeError();
      this.#format = new Intl.DateTimeFormat('en-US', {
        timeZone,
        weekday: 'short',
        hour: 'numeric',
        hourCycle: 'h23',
      });
    } catch (error) {
      throw new AgentSafeError('CONFIG_INVALID', `unknown time zone ${JSON.stringify(String(timeZone))}`, {
        cause: error,
        issues: [
          {
            path: 'timeZone',
            message: 'expected an IANA time zone name such as "Europe/Paris" or "UTC"',
          },
        ],
      });
    }
  }

  /** Writes the local day and hour of `now` (ms since the epoch) into `into`. */
  read(now: number, into: LocalTime): void {
    if (this.#format === undefined) {
      // 1970-01-01 was a Thursday (day 3 when Monday is 0).
      into.day = positiveModulo(Math.floor(now / DAY_MS) + 3, 7);
      into.hour = positiveModulo(Math.floor(now / HOUR_MS), 24);
      return;
    }
    let day = -1;
    let hour = -1;
    for (const part of this.#format.formatToParts(now)) {
      if (part.type === 'weekday') day = WEEKDAYS[part.value] ?? -1;
      else if (part.type === 'hour') hour = Number(part.value) % 24;
    }
    into.day = day;
    into.hour = Number.isInteger(hour) ? hour : -1;
  }
}

function positiveModulo(value: number, modulus: number): number {
  return ((value % modulus) + modulus) % modulus;
}
