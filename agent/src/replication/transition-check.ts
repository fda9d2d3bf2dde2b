// The shape shared by every machine's transition(from, to): a table of allowed moves and a
// typed rejection for the rest. Each machine keeps its table beside its states, validates
// through here, then commits and runs the effects of entering the new state.

export interface TransitionRejection<S extends string = string> {
  readonly kind: 'InvalidTransition';
  readonly machine: 'primary' | 'bunker' | 'secondary' | 'replica';
  readonly from: S;
  readonly to: S;
}

export type TransitionTable<S extends string> = { readonly [From in S]: readonly S[] };

export function checkTransition<S extends string>(
  machine: TransitionRejection['machine'],
  table: TransitionTable<S>,
  from: S,
  to: S,
): TransitionRejection<S> | null {
  return table[from].includes(to) ? null : { kind: 'InvalidTransition', machine, from, to };
}
