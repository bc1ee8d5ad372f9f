// The Configure form's pure parts: the core's layered config with sources, editing validated in the engine's words,
// presets replacing the plan as on the command line, the set/all view; and navigation.
import {describe, expect, it} from 'vitest';
import {configure} from '../src/core/app/configure.js';
import type {ConfigLayers} from '../src/core/app/types.js';
import {configFields, getKey} from '../src/core/config.js';
import {errorOf, fieldErrors, formReducer, initialForm, visibleFields, type FormAction, type FormState} from '../src/ui/state/formReducer.js';
import {currentRoute, initialNav, navReducer} from '../src/ui/state/navReducer.js';
import {FAKE_PLAN} from './ui-fake-core.js';

const fields = configFields();
const presets: Record<string, Record<string, unknown>> = {tiny: {model: {features: [4, 8]}, data: {patch: [16, 16, 16]}}};
const conf = (layers: ConfigLayers) => configure(layers, {loadPreset: (n) => presets[n]});
const start = (layers: ConfigLayers = {data: '/data/la'}, view: 'set' | 'all' = 'all') => initialForm(fields, layers, conf, view);
const run = (s: FormState, ...actions: FormAction[]) => actions.reduce((acc, a) => formReducer(acc, a, conf), s);
const at = (s: FormState, key: string) => run(s, {type: 'goto', key});
const value = (s: FormState, key: string) => getKey(s.configured.config, key);

describe('formReducer', () => {
  it('starts valid from the defaults with the dataset as the one user value', () => {
    const s = start();
    expect(s.configured.problems).toEqual([]);
    expect(s.configured.sources['data.root']).toBe('user');
    expect(s.configured.sources['train.epochs']).toBe('default');
  });

  it('a plan fills its keys, marked plan with their reasons; the "set" view shows them and the dataset', () => {
    const s = run(start({data: '/data/la'}, 'set'), {type: 'plan', plan: FAKE_PLAN});
    expect(value(s, 'data.patch')).toEqual([32, 64, 80]);
    expect(s.configured.sources['model.features']).toBe('plan');
    expect(s.configured.reasons['data.patch']).toBe('covers 54% of the median case');
    expect(visibleFields(s).map((f) => f.key)).toEqual(['data.root', 'data.spacing', 'data.patch', 'data.batch', 'model.features',
      'train.epochs', 'train.iters_per_epoch', 'train.device', 'train.precision']);
  });

  it('an edit wins over the plan, is marked user, and the plan no longer explains that key', () => {
    let s = run(start(), {type: 'plan', plan: FAKE_PLAN}, {type: 'goto', key: 'train.epochs'}, {type: 'edit'});
    expect(s.editing).toEqual({buffer: '21', error: null});
    s = run(s, {type: 'backspace'}, {type: 'backspace'}, {type: 'input', text: '0'});
    expect(s.editing?.error).toBe('train.epochs: got 0, expected an integer >= 1');
    s = run(s, {type: 'commit'});
    expect(s.editing).not.toBeNull(); // refused: still editing
    s = run(s, {type: 'backspace'}, {type: 'input', text: '7'}, {type: 'commit'});
    expect(s.editing).toBeNull();
    expect(value(s, 'train.epochs')).toBe(7);
    expect(s.configured.sources['train.epochs']).toBe('user');
    expect(s.configured.reasons['train.epochs']).toBeUndefined();
    expect(s.dirty).toBe(true);
  });

  it('text of the wrong type is named with its key and what was expected, as the engine words it', () => {
    const s = run(at(start(), 'train.epochs'), {type: 'edit'}, ...Array(3).fill({type: 'backspace'}), {type: 'input', text: 'x'});
    expect(s.editing?.error).toBe('train.epochs: got "x", expected an integer >= 1');
  });

  it('cancel keeps the old value; moving is locked while editing', () => {
    let s = run(at(start(), 'data.batch'), {type: 'edit'}, {type: 'input', text: '9'}, {type: 'move', delta: 3});
    expect(visibleFields(s)[s.cursor].key).toBe('data.batch');
    s = run(s, {type: 'cancel'});
    expect(value(s, 'data.batch')).toBe(2);
  });

  it('cycles enums both ways and toggles booleans', () => {
    let s = run(at(start(), 'optim.schedule'), {type: 'cycle', delta: -1});
    expect(value(s, 'optim.schedule')).toBe('constant');
    s = run(at(s, 'train.compile'), {type: 'cycle', delta: 1});
    expect(value(s, 'train.compile')).toBe(true);
    s = run(s, {type: 'edit'});
    expect(value(s, 'train.compile')).toBe(false);
  });

  it('a preset replaces the plan (as --preset does on the command line); edits and the dataset stay; "plan" brings it back', () => {
    let s = run(start(), {type: 'plan', plan: FAKE_PLAN}, {type: 'set', key: 'optim.lr', value: 0.01}, {type: 'preset', name: 'tiny'});
    expect(value(s, 'model.features')).toEqual([4, 8]);
    expect(s.configured.sources['model.features']).toBe('preset');
    expect(value(s, 'train.epochs')).toBe(100); // the plan's 21 is gone with it
    expect(value(s, 'optim.lr')).toBe(0.01);
    expect(value(s, 'data.root')).toMatch(/\/data\/la$/);
    s = run(s, {type: 'preset', name: null});
    expect(value(s, 'train.epochs')).toBe(21);
    s = run(s, {type: 'saved', path: '/x.json'});
    expect(s).toMatchObject({dirty: false, savedPath: '/x.json'});
  });

  it('fieldErrors keys every problem by the field it names, unknown keys included', () => {
    expect(fieldErrors(['train.epochs: got 0, expected x', 'unknown config key train.epoch (known: ...)', 'something else'], fields))
      .toEqual({'train.epochs': 'train.epochs: got 0, expected x', '': 'unknown config key train.epoch (known: ...)'});
  });
});

describe('navReducer', () => {
  it('pushes, replaces and goes back, never below home', () => {
    let s = navReducer(initialNav, {type: 'push', route: {screen: 'runs'}});
    s = navReducer(s, {type: 'replace', route: {screen: 'runs', select: '/r'}});
    expect(currentRoute(s)).toEqual({screen: 'runs', select: '/r'});
    s = navReducer(navReducer(s, {type: 'back'}), {type: 'back'});
    expect(s).toEqual(initialNav);
  });
});
