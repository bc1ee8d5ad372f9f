// A promise's result as state; a newer call or unmount makes older results ignored.
import {useEffect, useState} from 'react';

export type AsyncState<T> = {status: 'loading'} | {status: 'done'; value: T} | {status: 'error'; error: string};

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function useAsync<T>(load: (() => Promise<T>) | null, deps: unknown[]): AsyncState<T> {
  const [state, setState] = useState<AsyncState<T>>({status: 'loading'});
  useEffect(() => {
    if (!load) return;
    let live = true;
    setState({status: 'loading'});
    load().then(
      (value) => live && setState({status: 'done', value}),
      (e: unknown) => live && setState({status: 'error', error: errorText(e)}),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  return state;
}
