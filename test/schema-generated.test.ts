// The front's generated TypeScript matches schema/*.json: a schema regenerated without `npm run schema` fails here.
import {readFileSync} from 'node:fs';
import path from 'node:path';
import {describe, expect, it} from 'vitest';
// @ts-expect-error -- a plain .mjs script without type declarations
import {generate} from '../scripts/schema.mjs';

describe('src/core/generated/', () => {
  it('is what scripts/schema.mjs makes of schema/*.json', async () => {
    const files = (await generate()) as Record<string, string>;
    for (const [name, text] of Object.entries(files)) {
      const committed = readFileSync(path.resolve(__dirname, '..', 'src', 'core', 'generated', name), 'utf8');
      expect(committed, `${name} is stale: run npm run schema`).toBe(text);
    }
  });
});
