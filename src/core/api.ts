// The core's interface, for the UI and the tests: types from app/types.ts, createCore from app/index.ts.
export type * from './app/types.js';
export {createCore, type CoreOptions} from './app/index.js';
