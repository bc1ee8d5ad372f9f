// The engine's event stream, validated against schema/events.schema.json (generated from py/heartseg/events.py).
// The rule on both sides: a line of another contract version, or with a field the schema does not know, is refused.
import type {EngineEvent} from './generated/events.js';
import {CONTRACT} from './generated/contract.js';
import {zodForEvent} from './schema.js';

export type {EngineEvent} from './generated/events.js';
export type EventOf<T extends EngineEvent['type']> = Extract<EngineEvent, {type: T}>;
/** A metric on the wire: a number, "inf"/"-inf" (JSON has no infinity), or null. */
export type MetricValue = number | 'inf' | '-inf' | null;

export type ParseResult = {ok: true; event: EngineEvent} | {ok: false; error: string; line: string};

/** Check one parsed object against the contract; never throws. */
export function checkEvent(raw: unknown): {ok: true; event: EngineEvent} | {ok: false; error: string} {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return {ok: false, error: 'not a JSON object'};
  const v = (raw as {v?: unknown}).v;
  if (v !== CONTRACT.event_version) {
    return {ok: false, error: `event version ${JSON.stringify(v)}, expected ${CONTRACT.event_version} (written by another heartseg version)`};
  }
  const type = (raw as {type?: unknown}).type;
  const validator = typeof type === 'string' ? zodForEvent(type) : undefined;
  if (!validator) return {ok: false, error: `unknown event type ${JSON.stringify(type)}`};
  const result = validator.safeParse(raw);
  if (result.success) return {ok: true, event: result.data as EngineEvent};
  const issue = result.error.issues[0];
  const where = issue?.path.length ? issue.path.join('.') + ': ' : '';
  const text = issue?.code === 'unrecognized_keys' ? `unknown field ${issue.keys.join(', ')}` : issue?.message ?? 'invalid event';
  return {ok: false, error: `${where}${text}`};
}

/** Parse one line of the event stream; never throws. */
export function parseEventLine(line: string): ParseResult {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return {ok: false, error: 'not JSON', line};
  }
  const checked = checkEvent(raw);
  return checked.ok ? checked : {...checked, line};
}

/** Turn a metric value from the wire into a number (Infinity for "inf", NaN for null). */
export function metricNumber(value: MetricValue | undefined): number {
  if (value === 'inf') return Infinity;
  if (value === '-inf') return -Infinity;
  if (value === null || value === undefined) return NaN;
  return value;
}
