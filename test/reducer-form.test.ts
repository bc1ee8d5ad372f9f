// The Configure form's pure parts: fields generated from the config schema, parsing, the form reducer, model size.
import {describe, expect, it} from 'vitest';
import {configSchema, defaultConfig} from '../src/core/config.js';
import {fieldError, formReducer, initialForm, type FormAction, type FormState} from '../src/ui/state/formReducer.js';
import {trainingMemory, unetParameters} from '../src/ui/state/modelSize.js';
import {navReducer, initialNav, currentRoute} from '../src/ui/state/navReducer.js';
import {deepMerge, fieldsFromSchema, getPath, parseFieldText, schemaValidator, setPath, type Field} from '../src/ui/state/schemaFields.js';

const fields = fieldsFromSchema(configSchema);
const validate = schemaValidator(configSchema);
const byKey = (key: string) => {
  const f = fields.find((x) => x.key === key);
  if (!f) throw new Error(`no field ${key}`);
  return f;
};

describe('fieldsFromSchema', () => {
  it('walks every leaf of the config schema with its kind, default and description', () => {
    const defaults = defaultConfig() as unknown as Record<string, unknown>;
    for (const f of fields) expect(f.defaultValue, f.key).toEqual(getPath(defaults, f.key));
    expect(fields.map((f) => f.key)).toContain('train.step_event_seconds');
    expect(byKey('data.patch')).toMatchObject({kind: 'list', item: 'integer', nullable: false, section: 'data'});
    expect(byKey('data.spacing')).toMatchObject({kind: 'list', item: 'number', nullable: true});
    expect(byKey('optim.schedule')).toMatchObject({kind: 'enum', options: ['poly', 'cosine', 'step', 'constant']});
    expect(byKey('train.epochs')).toMatchObject({kind: 'integer'});
    expect(byKey('optim.lr')).toMatchObject({kind: 'number'});
    expect(byKey('train.amp')).toMatchObject({kind: 'boolean'});
    expect(byKey('name')).toMatchObject({kind: 'string', section: ''});
    expect(byKey('train.epochs').description).toBe('Number of epochs.');
  });
});

describe('parseFieldText', () => {
  const f = (key: string): Field => byKey(key);
  it.each([
    ['train.epochs', '12', 12],
    ['train.epochs', ' +3 ', 3],
    ['optim.lr', '3e-4', 3e-4],
    ['data.patch', '32, 64,64', [32, 64, 64]],
    ['data.patch', '32 64 64', [32, 64, 64]],
    ['data.spacing', 'null', null],
    ['data.spacing', '', null],
    ['data.val_cases', 'a,b', ['a', 'b']],
    ['train.amp', 'no', false],
    ['train.amp', 'TRUE', true],
    ['optim.schedule', 'cosine', 'cosine'],
    ['name', '', ''],
  ])('%s <- %j gives %j', (key, text, value) => {
    expect(parseFieldText(f(key), text)).toEqual({ok: true, value});
  });
  it.each([
    ['train.epochs', '1.5', '"1.5" is not an integer'],
    ['optim.lr', 'fast', '"fast" is not a number'],
    ['data.patch', '32,x', '"x" is not an integer'],
    ['train.amp', 'maybe', '"maybe" is not true or false'],
    ['optim.schedule', 'linear', 'expected one of poly, cosine, step, constant'],
  ])('%s <- %j is refused: %s', (key, text, error) => {
    expect(parseFieldText(f(key), text)).toEqual({ok: false, error});
  });
});

describe('formReducer', () => {
  const start = () => initialForm(fields, defaultConfig() as unknown as Record<string, unknown>, validate);
  const run = (s: FormState, ...actions: FormAction[]) => actions.reduce((acc, a) => formReducer(acc, a, validate), s);
  const at = (s: FormState, key: string) => run(s, {type: 'move', delta: fields.findIndex((f) => f.key === key) - s.cursor});

  it('starts valid from the defaults', () => {
    expect(start().errors).toEqual({});
  });

  it('edits with validation on every keystroke and commits only valid values', () => {
    let s = run(at(start(), 'train.epochs'), {type: 'edit'});
    expect(s.editing).toEqual({buffer: '100', error: null});
    s = run(s, {type: 'backspace'}, {type: 'backspace'}, {type: 'backspace'}, {type: 'input', text: '0'});
    expect(s.editing?.error).toBe('expected an integer >= 1');
    s = run(s, {type: 'commit'});
    expect(s.editing).not.toBeNull();
    s = run(s, {type: 'backspace'}, {type: 'input', text: '7'}, {type: 'commit'});
    expect(s.editing).toBeNull();
    expect(getPath(s.config, 'train.epochs')).toBe(7);
    expect(s.dirty).toBe(true);
  });

  it('cancel keeps the old value; moving is locked while editing', () => {
    let s = run(at(start(), 'data.batch'), {type: 'edit'}, {type: 'input', text: '9'}, {type: 'move', delta: 3});
    expect(s.fields[s.cursor].key).toBe('data.batch');
    s = run(s, {type: 'cancel'});
    expect(getPath(s.config, 'data.batch')).toBe(2);
  });

  it('cycles enums both ways and toggles booleans', () => {
    let s = run(at(start(), 'optim.schedule'), {type: 'cycle', delta: -1});
    expect(getPath(s.config, 'optim.schedule')).toBe('constant');
    s = run(at(s, 'train.amp'), {type: 'cycle', delta: 1});
    expect(getPath(s.config, 'train.amp')).toBe(false);
    s = run(s, {type: 'edit'});
    expect(getPath(s.config, 'train.amp')).toBe(true);
  });

  it('a preset starts from the defaults, keeps the dataset and reports problems of the result', () => {
    let s = run(start(), {type: 'set', key: 'data.root', value: '/data/la'}, {type: 'set', key: 'train.epochs', value: 5});
    s = run(s, {type: 'preset', name: 'tiny', config: {model: {features: [4]}}, defaults: defaultConfig() as unknown as Record<string, unknown>});
    expect(s.preset).toBe('tiny');
    expect(getPath(s.config, 'train.epochs')).toBe(100);
    expect(getPath(s.config, 'data.root')).toBe('/data/la');
    expect(fieldError(s.errors, 'model.features')).toBe('expected at least two positive channel counts');
    s = run(s, {type: 'saved', path: '/x.json'});
    expect(s).toMatchObject({dirty: false, savedPath: '/x.json'});
  });

  it('list problems are reported on the list field', () => {
    const s = run(start(), {type: 'set', key: 'data.patch', value: [64, 4, 64]});
    expect(fieldError(s.errors, 'data.patch')).toBe('expected three sizes >= 8');
  });
});

describe('model size', () => {
  it.each([
    [[32, 64, 128, 256], 1, 1, 22_581_217], // the seed model (fixtures README)
    [[4, 8, 16, 32], 1, 1, 353_949], // the tiny seed checkpoint
    // By hand: encoder 60 + 174, bottleneck 672, up 66 + decoder 336, up 17 + decoder 87, head 2.
    [[1, 2], 1, 1, 1414],
    [[1, 2], 2, 3, 1414 + 27 + 2 * 2], // one more input channel: 27 weights; two more outputs: 2 weights + 2 biases
  ])('features %j in %i out %i have %i parameters', (features, inChannels, outChannels, expected) => {
    expect(unetParameters({features, inChannels, outChannels})).toBe(expected);
  });

  it('memory grows with batch and patch; bad arguments are refused', () => {
    const shape = {features: [16, 32, 64], inChannels: 1, outChannels: 1};
    const one = trainingMemory(shape, [32, 32, 32], 1);
    expect(trainingMemory(shape, [32, 32, 32], 2).activationBytes).toBe(2 * one.activationBytes);
    expect(trainingMemory(shape, [64, 32, 32], 1).activationBytes).toBeGreaterThan(1.9 * one.activationBytes);
    expect(one.parameterBytes).toBe(unetParameters(shape) * 16);
    expect(() => trainingMemory(shape, [32, 32], 1)).toThrow(/patch must be three/);
    expect(() => trainingMemory(shape, [32, 32, 32], 0)).toThrow(/batch must be >= 1/);
    expect(() => unetParameters({features: [], inChannels: 1, outChannels: 1})).toThrow(/features/);
  });
});

describe('helpers', () => {
  it('setPath and deepMerge copy instead of mutating', () => {
    const a = {x: {y: 1, z: [1, 2]}, w: 2};
    const b = setPath(a, 'x.y', 5);
    expect(a.x.y).toBe(1);
    expect(b).toEqual({x: {y: 5, z: [1, 2]}, w: 2});
    expect(deepMerge(a, {x: {z: [9]}})).toEqual({x: {y: 1, z: [9]}, w: 2});
    expect(a.x.z).toEqual([1, 2]);
  });

  it('navReducer pushes, replaces and goes back, never below home', () => {
    let s = navReducer(initialNav, {type: 'push', route: {screen: 'runs'}});
    s = navReducer(s, {type: 'replace', route: {screen: 'runs', select: '/r'}});
    expect(currentRoute(s)).toEqual({screen: 'runs', select: '/r'});
    s = navReducer(navReducer(s, {type: 'back'}), {type: 'back'});
    expect(s).toEqual(initialNav);
  });
});
