// Named key bindings. One Ink input listener (KeyRouter) dispatches to the bindings registered during commit, so a
// screen that just replaced another gets the very next key (Ink's own useInput re-subscribes in passive effects,
// which can run late and hand keys to an unmounted screen).
import React, {createContext, useCallback, useContext, useLayoutEffect, useRef, useState} from 'react';
import {useInput, useStdin, type Key} from 'ink';

export type KeyHandler = () => void;
export type KeyMap = Partial<Record<string, KeyHandler>>;

/** The names a key press goes by: "up", "enter", "ctrl+c", "q", "Q" ... */
export function keyNames(input: string, key: Key): string[] {
  const names: string[] = [];
  if (key.upArrow) names.push('up');
  if (key.downArrow) names.push('down');
  if (key.leftArrow) names.push('left');
  if (key.rightArrow) names.push('right');
  if (key.pageUp) names.push('pageup');
  if (key.pageDown) names.push('pagedown');
  if (key.home) names.push('home');
  if (key.end) names.push('end');
  if (key.return) names.push('enter');
  if (key.escape) names.push('escape');
  if (key.tab) names.push(key.shift ? 'shift+tab' : 'tab');
  if (key.backspace || key.delete) names.push('backspace');
  if (key.ctrl && input) names.push(`ctrl+${input.toLowerCase()}`);
  else if (input === ' ') names.push('space');
  else if (input && !key.meta) names.push(input);
  return names;
}

export interface KeyOptions {
  isActive?: boolean;
  /** Printable text that no binding took (for text fields). */
  onText?: (text: string) => void;
}

interface Entry {
  bindings: KeyMap;
  options: KeyOptions;
}

type Registry = Map<number, Entry>;

/** Deliver one key to every active entry, in registration order. */
export function dispatchKey(registry: Registry, input: string, key: Key): void {
  const names = keyNames(input, key);
  for (const {bindings, options} of [...registry.values()]) {
    if (options.isActive === false) continue;
    const name = names.find((n) => bindings[n]);
    if (name) bindings[name]!();
    else if (options.onText && input && !key.ctrl && !key.meta && !key.return && !key.tab && !key.escape) options.onText(input);
  }
}

const NO_KEY: Key = {
  upArrow: false, downArrow: false, leftArrow: false, rightArrow: false, pageDown: false, pageUp: false, home: false,
  end: false, return: false, escape: false, ctrl: false, shift: false, tab: false, backspace: false, delete: false,
  meta: false, super: false, hyper: false, capsLock: false, numLock: false,
};

/** One key per character of a chunk that arrived at once (fast typing, tmux send-keys, paste). */
export function splitChunk(input: string): Array<[string, Key]> {
  return [...input].map((ch): [string, Key] => {
    if (ch === '\x7f' || ch === '\b') return ['', {...NO_KEY, backspace: true}];
    if (ch === '\r' || ch === '\n') return ['', {...NO_KEY, return: true}];
    if (ch === '\t') return ['', {...NO_KEY, tab: true}];
    const code = ch.charCodeAt(0);
    if (code >= 1 && code <= 26) return [String.fromCharCode(code + 96), {...NO_KEY, ctrl: true}];
    return [ch, {...NO_KEY, shift: ch !== ch.toLowerCase()}];
  });
}

const RouterContext = createContext<Registry | null>(null);

export function KeyRouter({children}: {children: React.ReactNode}) {
  const registry = useRef<Registry>(new Map()).current;
  const {isRawModeSupported} = useStdin();
  // Keys wait in one queue and go out one per React commit: a key that opens a prompt or changes the screen decides
  // who gets the next one, so the next key waits until that change is committed. Ink hands a fast-typed or pasted
  // chunk over as one input; it is split into single keys.
  const queue = useRef<Array<[string, Key]>>([]).current;
  const pumping = useRef(false);
  const [turn, setTurn] = useState(0);
  const pump = useCallback(() => {
    const item = queue.shift();
    if (!item) {
      pumping.current = false;
      return;
    }
    try {
      dispatchKey(registry, item[0], item[1]);
    } finally {
      setTurn((t) => t + 1); // commits together with whatever the handler changed
    }
  }, [registry, queue]);
  // The router's layout effect runs after its children's, so every registration is current here.
  useLayoutEffect(() => {
    if (pumping.current) setImmediate(pump);
  }, [turn, pump]);
  const onInput = useCallback(
    (input: string, key: Key) => {
      const split = input.length > 1 && !key.meta && !input.startsWith('\u001B');
      queue.push(...(split ? splitChunk(input) : [[input, key] as [string, Key]]));
      if (pumping.current) return;
      pumping.current = true;
      pump();
    },
    [queue, pump],
  );
  useInput(onInput, {isActive: isRawModeSupported === true});
  return React.createElement(RouterContext.Provider, {value: registry}, children);
}

let nextId = 0;

export function useKeys(bindings: KeyMap, options: KeyOptions = {}): void {
  const registry = useContext(RouterContext);
  if (!registry) throw new Error('useKeys needs a <KeyRouter> above it');
  const id = useRef(-1);
  if (id.current < 0) id.current = nextId++;
  // Refresh the bindings at every commit so handlers see current state.
  useLayoutEffect(() => {
    registry.set(id.current, {bindings, options});
  });
  useLayoutEffect(() => () => void registry.delete(id.current), [registry]);
}
