// A cross-validation's folds on one line, for the Train screen and the Runs screen's detail.
import React from 'react';
import {Text} from 'ink';
import {fmtNum} from '../state/format.js';
import type {FoldRow, FoldsState} from '../state/trainReducer.js';
import {useColour} from '../theme.js';

const FOLD_MARK: Record<FoldRow['status'], string> = {pending: '', training: '▶', done: '✓', failed: '✗', interrupted: '‖'};

/** A cross-validation's folds on one line (`folds  0 ✓ 0.912 · 1 ▶ · 2`), then the cv Dice once cv/ is written. */
export function FoldsStrip({cv}: {cv: FoldsState}) {
  const c = useColour();
  const colour = {pending: undefined, training: 'cyan', done: 'green', failed: 'red', interrupted: 'yellow'} as const;
  const dice = cv.cv?.dice[0];
  return (
    <Text wrap="truncate">
      <Text bold>folds </Text>
      {cv.folds.map((f, k) => (
        <Text key={k}>
          {k ? <Text dimColor> · </Text> : ' '}
          <Text color={colour[f.status] && c(colour[f.status]!)} bold={k === cv.current} dimColor={f.status === 'pending'}>
            {k}{FOLD_MARK[f.status] ? ` ${FOLD_MARK[f.status]}` : ''}{f.valDice != null ? ` ${fmtNum(f.valDice, 3)}` : ''}
          </Text>
        </Text>
      ))}
      {dice ? <Text> · cv Dice <Text bold color={c('green')}>{fmtNum(dice.mean, 3)} ± {fmtNum(dice.std, 3)}</Text>{cv.cv!.dice.length > 1 ? ` (${dice.label})` : ''} over {cv.cv!.cases} cases</Text> : null}
    </Text>
  );
}
