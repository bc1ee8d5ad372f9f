import {readFileSync} from 'node:fs';
import path from 'node:path';
import {describe, expect, it} from 'vitest';
import {eventSchema, metricNumber, parseEventLine} from '../src/core/events.js';

const dir = path.resolve(__dirname, '..', 'schema', 'events');
const lines = (file: string) => readFileSync(path.join(dir, file), 'utf8').split('\n').filter(l => l.trim());

describe('event schema (zod) against the shared example files', () => {
  const examples = lines('examples.jsonl');
  const invalid = lines('invalid.jsonl');

  it('has examples of every event type', () => {
    const types = new Set(examples.map(l => JSON.parse(l).type));
    const all = eventSchema.options.map(o => o.shape.type.value);
    expect([...types].sort()).toEqual([...all].sort());
  });

  it.each(examples.map((l, i) => [i + 1, l]))('accepts examples.jsonl line %i', (_i, line) => {
    const r = parseEventLine(line as string);
    expect(r.ok ? 'ok' : r.error).toBe('ok');
  });

  it.each(invalid.map((l, i) => [i + 1, l]))('rejects invalid.jsonl line %i', (_i, line) => {
    const r = parseEventLine(line as string);
    expect(r.ok).toBe(false);
  });

  it('never throws on garbage and turns "inf" into Infinity', () => {
    expect(parseEventLine('{').ok).toBe(false);
    expect(parseEventLine('null').ok).toBe(false);
    expect(metricNumber('inf')).toBe(Infinity);
    expect(metricNumber(null)).toBeNaN();
    expect(metricNumber(0.5)).toBe(0.5);
  });
});
