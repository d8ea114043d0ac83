import type { AuditEvent, AuditEventBody } from './audit-event.js';

/** Source of time. Injected everywhere time matters so tests control it. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** The machine's clock. */
export const systemClock: Clock = { now: () => Date.now() };

/** A clock that only moves when told to (for tests). */
export class ManualClock implements Clock {
  #now: number;
  constructor(start: number | Date = 0) {
    this.#now = typeof start === 'number' ? start : start.getTime();
  }
  now(): number {
    return this.#now;
  }
  /** Moves the clock forward by `ms` milliseconds. */
  advance(ms: number): void {
    this.#now += ms;
  }
  set(time: number | Date): void {
    this.#now = typeof time === 'number' ? time : time.getTime();
  }
}

/** Where audit events go. `append` resolves once the event is stored with the sink's durability. */
export interface AuditSink {
  append(event: AuditEventBody): Promise<AuditEvent>;
  close(): Promise<void>;
}
