/** A clock that only moves when the code under test sleeps; every sleep is recorded. */
export function fakeClock(start = Date.UTC(2026, 11, 1, 2, 0, 0)) {
  let now = start;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => now,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      now += ms;
    },
    /** Moves time without a sleep (time spent inside an attempt). */
    advance: (ms: number) => {
      now += ms;
    },
  };
}
