// The root component: routes between screens; q (Home) or Ctrl-C quits after the core has stopped its processes.
import React, {useCallback, useReducer, useRef, useState} from 'react';
import {Box, Text, useApp} from 'ink';
import type {Core} from '../core/api.js';
import {KeyRouter, useKeys} from './hooks/useKeys.js';
import {useTerminalSize} from './hooks/useTerminalSize.js';
import {currentRoute, initialNav, navReducer, type Route} from './state/navReducer.js';
import {colourFromEnv, SizeProvider, ThemeProvider, type Size} from './theme.js';
import {Configure} from './screens/Configure.js';
import {Dataset} from './screens/Dataset.js';
import {Evaluate} from './screens/Evaluate.js';
import {Home} from './screens/Home.js';
import {Runs} from './screens/Runs.js';
import type {ScreenProps} from './screens/types.js';
import {Train} from './screens/Train.js';

export interface AppProps {
  core: Core;
  /** Fixed terminal size (tests); default: the real terminal, updated on resize. */
  size?: Partial<Size>;
  colour?: boolean;
  /** Called with the exit code once the app has cleaned up. */
  onExit?: (code: number) => void;
  initialRoute?: Route;
}

export function App(props: AppProps) {
  return (
    <KeyRouter>
      <Routes {...props} />
    </KeyRouter>
  );
}

function Routes({core, size, colour = colourFromEnv(), onExit, initialRoute}: AppProps) {
  const {exit} = useApp();
  const terminal = useTerminalSize(size);
  const [nav, dispatch] = useReducer(navReducer, initialRoute ? {stack: [initialRoute]} : initialNav);
  const [stopping, setStopping] = useState(false);
  const quitting = useRef(false);
  const quitWith = useCallback(
    (code: number) => {
      if (quitting.current) return;
      quitting.current = true;
      setStopping(true);
      core
        .shutdown()
        .catch(() => undefined)
        .finally(() => {
          onExit?.(code);
          exit();
        });
    },
    [core, exit, onExit],
  );
  const quit = useCallback(() => quitWith(0), [quitWith]);
  // In raw mode Ctrl-C is a key press, not a signal: stop the engines ourselves.
  useKeys({'ctrl+c': () => quitWith(130)});
  const go = useCallback((route: Route) => dispatch({type: 'push', route}), []);
  const replace = useCallback((route: Route) => dispatch({type: 'replace', route}), []);
  const back = useCallback(() => dispatch({type: 'back'}), []);
  const route = currentRoute(nav);
  const props = {core, go, replace, back, quit};
  return (
    <ThemeProvider theme={{colour}}>
      <SizeProvider value={terminal}>
        {stopping ? (
          <Box>
            <Text>stopping engines and quitting…</Text>
          </Box>
        ) : (
          <Screen route={route} {...props} />
        )}
      </SizeProvider>
    </ThemeProvider>
  );
}

function Screen({route, ...props}: {route: Route} & ScreenProps) {
  switch (route.screen) {
    case 'home':
      return <Home {...props} />;
    case 'dataset':
      return <Dataset {...props} root={route.root} />;
    case 'configure':
      return <Configure {...props} root={route.root} />;
    case 'train':
      return <Train {...props} launch={route.launch} />;
    case 'evaluate':
      return <Evaluate {...props} runDir={route.runDir} start={route.start} data={route.data} />;
    case 'runs':
      return <Runs {...props} select={route.select} />;
  }
}

